package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
)

// Default is the network of run and create without --network, docker's
// "bridge": outbound through pasta, no name resolution between its
// containers (as docker's default bridge), reached by address only.
const Default = "bridge"

// defaultSubnet is docker's default bridge subnet. It lives only inside
// Strata's namespace for the network, so it cannot clash with the host's
// addresses.
const defaultSubnet = "172.17.0.0/16"

// Network is a network's record.
type Network struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Driver   string    `json:"driver"`
	Subnet   string    `json:"subnet"`
	Gateway  string    `json:"gateway"`
	Internal bool      `json:"internal,omitempty"`
	Created  time.Time `json:"created"`
}

// UserDefined reports whether n was made by "network create" (docker
// resolves container names only on those).
func (n *Network) UserDefined() bool { return n.Name != Default }

// prefix is n's subnet.
func (n *Network) prefix() netip.Prefix { return netip.MustParsePrefix(n.Subnet) }

// CreateOptions are "network create"'s flags.
type CreateOptions struct {
	Name string
	// Subnet is a CIDR (default: the first free 172.18-31.0.0/16, then
	// 192.168.N.0/24, as docker picks).
	Subnet   string
	Internal bool
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Create records a new network. Nothing is set up until a container
// joins it.
func (m *Manager) Create(o CreateOptions) (*Network, error) {
	if !namePattern.MatchString(o.Name) || len(o.Name) > 64 {
		return nil, fmt.Errorf("invalid network name %q: use [a-zA-Z0-9][a-zA-Z0-9_.-], at most 64 characters: %w", o.Name, errdefs.ErrInvalidArgument)
	}
	if o.Name == "host" || o.Name == "none" || o.Name == Default {
		return nil, fmt.Errorf("network %q is a predefined network; choose another name: %w", o.Name, errdefs.ErrConflict)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Name == o.Name {
			return nil, fmt.Errorf("network with name %s already exists: choose another name or remove it first: %w", o.Name, errdefs.ErrAlreadyExists)
		}
	}
	var subnet netip.Prefix
	if o.Subnet != "" {
		subnet, err = ParseSubnet(o.Subnet)
		if err != nil {
			return nil, err
		}
		for _, n := range nets {
			if n.prefix().Overlaps(subnet) {
				return nil, fmt.Errorf("subnet %s overlaps network %s (%s): choose a free range: %w", subnet, n.Name, n.Subnet, errdefs.ErrConflict)
			}
		}
	} else if subnet, err = freeSubnet(nets); err != nil {
		return nil, err
	}
	n, err := m.record(o.Name, subnet, o.Internal)
	if err != nil {
		return nil, err
	}
	m.isolateAll(n)
	m.Event("create", n, "")
	return n, nil
}

// record writes a new network's record.
func (m *Manager) record(name string, subnet netip.Prefix, internal bool) (*Network, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	n := &Network{
		ID: hex.EncodeToString(b), Name: name, Driver: "bridge",
		Subnet: subnet.String(), Gateway: subnet.Addr().Next().String(),
		Internal: internal, Created: time.Now().UTC(),
	}
	if err := writeJSON(m.netPath(n.ID), n); err != nil {
		return nil, fmt.Errorf("create network %s: %w", name, err)
	}
	return n, nil
}

// ParseSubnet parses --subnet: an IPv4 CIDR of its network address, /8
// to /29.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 29 {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: want an IPv4 CIDR such as 10.89.0.0/24 (/8 to /29): %w", s, errdefs.ErrInvalidArgument)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: the address has host bits set; did you mean %s?: %w", s, p.Masked(), errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// freeSubnet picks docker's next default pool: 172.18.0.0/16 …
// 172.31.0.0/16, then 192.168.0.0/20 steps.
func freeSubnet(nets []*Network) (netip.Prefix, error) {
	var cands []netip.Prefix
	for i := 18; i <= 31; i++ {
		cands = append(cands, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		cands = append(cands, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
next:
	for _, c := range cands {
		for _, n := range nets {
			if n.prefix().Overlaps(c) {
				continue next
			}
		}
		return c, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free subnet left: give one with --subnet: %w", errdefs.ErrUnavailable)
}

// List returns the networks, the default one first, then by name.
func (m *Manager) List() ([]*Network, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return m.list()
}

func (m *Manager) list() ([]*Network, error) {
	ents, err := os.ReadDir(filepath.Join(m.root, "networks"))
	if err != nil {
		return nil, err
	}
	var out []*Network
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var n Network
		if err := readJSON(filepath.Join(m.root, "networks", e.Name()), &n); err != nil {
			continue
		}
		out = append(out, &n)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == Default) != (out[j].Name == Default) {
			return out[i].Name == Default
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Get finds a network by name, ID or unique ID prefix.
func (m *Manager) Get(ref string) (*Network, error) {
	nets, err := m.List()
	if err != nil {
		return nil, err
	}
	return find(nets, ref)
}

func find(nets []*Network, ref string) (*Network, error) {
	var match []*Network
	for _, n := range nets {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
		if len(ref) >= 1 && strings.HasPrefix(n.ID, ref) {
			match = append(match, n)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	if len(match) > 1 {
		return nil, fmt.Errorf("network %s is ambiguous (%d matches): give more of the ID: %w", ref, len(match), errdefs.ErrInvalidArgument)
	}
	return nil, fmt.Errorf("network %s not found: see \"strata network ls\", or make it with \"strata network create %s\": %w", ref, ref, errdefs.ErrNotFound)
}

// Remove deletes a network no container uses (network rm). One in use is
// refused, naming its containers, and so are host and none.
func (m *Manager) Remove(ref string) (*Network, error) {
	if ref == "host" || ref == "none" {
		return nil, PredefinedError(ref)
	}
	n, err := m.remove(ref)
	if err == nil {
		m.Event("destroy", n, "")
	}
	return n, err
}

func (m *Manager) remove(ref string) (*Network, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	n, err := find(nets, ref)
	if err != nil {
		return nil, err
	}
	if n.Name == Default {
		return nil, fmt.Errorf("bridge is a predefined network and cannot be removed: %w", errdefs.ErrDenied)
	}
	m.sweep()
	if users := m.users(n.ID); len(users) > 0 {
		return nil, fmt.Errorf("error while removing network: network %s id %s has active endpoints (%s): stop and remove them, or \"strata network disconnect\" them, first: %w",
			n.Name, n.ID[:12], strings.Join(users, ", "), errdefs.ErrConflict)
	}
	if err := m.refuse(n); err != nil {
		return nil, err
	}
	m.down(n)
	if err := os.Remove(m.netPath(n.ID)); err != nil {
		return nil, fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	return n, nil
}

// refuse is set by the caller (see Manager.InUse) to refuse removing a
// network that stopped containers are configured with.
func (m *Manager) refuse(n *Network) error {
	if m.inUse == nil {
		return nil
	}
	if users := m.inUse(n); len(users) > 0 {
		return fmt.Errorf("error while removing network: network %s id %s is used by containers %s: remove them (or \"strata network disconnect\" them) first: %w",
			n.Name, n.ID[:12], strings.Join(users, ", "), errdefs.ErrConflict)
	}
	return nil
}

// Prune removes every user-defined network no container uses and
// returns their names.
func (m *Manager) Prune() ([]string, error) {
	nets, err := m.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nets {
		if n.Name == Default {
			continue
		}
		if _, err := m.remove(n.ID); err == nil {
			out = append(out, n.Name)
		} else if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
			return out, err
		}
	}
	return out, nil
}

// Manager keeps networks and the containers' attachments to them, under
// one directory (see the package doc for its layout). Several strata
// processes may use one at once: every change holds an flock.
type Manager struct {
	root  string
	inUse func(n *Network) []string
	alive func(id string) bool
	ev    *events.Journal
}

// Options configure Open.
type Options struct {
	// Alive reports whether a container record still exists; the
	// sandbox of one that does not is released at the next change
	// (after a kill -9 of whatever would have released it).
	Alive func(id string) bool
	// InUse names the containers configured with a network (also when
	// stopped), so rm refuses it as docker does.
	InUse func(n *Network) []string
	// Events is the journal network events go to (create, destroy,
	// connect, disconnect); nil records none.
	Events *events.Journal
}

// Open opens (creating) the network state under dir, with the default
// network recorded.
func Open(dir string, o Options) (*Manager, error) {
	m := &Manager{root: dir, inUse: o.InUse, alive: o.Alive, ev: o.Events}
	for _, d := range []string{"networks", "run", "sandboxes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("open network state: %w", err)
		}
	}
	nets, err := m.List()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Name == Default {
			return m, nil
		}
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if nets, err = m.list(); err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Name == Default {
			return m, nil
		}
	}
	if _, err := m.record(Default, netip.MustParsePrefix(defaultSubnet), false); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) netPath(id string) string { return filepath.Join(m.root, "networks", id+".json") }

// lock takes the manager's flock; the caller calls the returned func.
func (m *Manager) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(m.root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("network lock: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("network state busy (another strata holds %s): %w", f.Name(), errdefs.ErrUnavailable)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return func() { f.Close() }, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", filepath.Base(path), errdefs.ErrNotFound)
		}
		return err
	}
	return json.Unmarshal(b, v)
}

// Root is the manager's state directory (for Open in another process).
func (m *Manager) Root() string { return m.root }
