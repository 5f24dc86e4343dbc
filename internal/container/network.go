package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/network"
	"github.com/strata-project/strata/internal/runtime"
)

// NetworkOptions are run and create's network flags beyond --network.
type NetworkOptions struct {
	// Aliases are --network-alias: more names on a user-defined network.
	Aliases []string `json:"aliases,omitempty"`
	// MacAddress is --mac-address for eth0.
	MacAddress string `json:"macAddress,omitempty"`
	// ExtraHosts (--add-host), DNS, DNSSearch and DNSOptions go into the
	// container's /etc/hosts and /etc/resolv.conf.
	ExtraHosts []string `json:"extraHosts,omitempty"`
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dnsSearch,omitempty"`
	DNSOptions []string `json:"dnsOptions,omitempty"`
	// Detached: every network was disconnected (Network is then none);
	// a connect may join one again, as docker allows, unlike a container
	// made with --network none.
	Detached bool `json:"detached,omitempty"`
}

// networkMode is the container's --network with the default filled in:
// the default network when the store has networks, else none.
func (s *Store) networkMode(mode runtime.NetworkMode) runtime.NetworkMode {
	if mode == "" || mode == "default" {
		mode = runtime.NetworkBridge
	}
	if mode == runtime.NetworkBridge && s.net == nil {
		return runtime.NetworkNone
	}
	return mode
}

// checkNetwork validates create's network flags against the networks
// there are, before anything is made.
func (s *Store) checkNetwork(opts *CreateOptions) error {
	opts.Network = s.networkMode(opts.Network)
	no := opts.NetworkOptions
	files := network.Files{ExtraHosts: no.ExtraHosts, DNS: no.DNS, DNSSearch: no.DNSSearch, DNSOptions: no.DNSOptions}
	if err := files.Validate(); err != nil {
		return err
	}
	if !opts.Network.Networked() {
		if len(no.Aliases) > 0 {
			return fmt.Errorf("--network-alias needs a user-defined network (--network %s has no names): %w", opts.Network, errdefs.ErrInvalidArgument)
		}
		if no.MacAddress != "" {
			return fmt.Errorf("--mac-address needs a network (--network %s has no interface to set it on): %w", opts.Network, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if s.net == nil {
		return fmt.Errorf("network %q: this store has no networks: use --network none or host: %w", opts.Network, errdefs.ErrInvalidArgument)
	}
	n, err := s.net.Get(string(opts.Network))
	if err != nil {
		return err
	}
	if no.MacAddress != "" {
		if err := network.ValidateMAC(no.MacAddress); err != nil {
			return err
		}
	}
	if !n.UserDefined() {
		if len(no.Aliases) > 0 {
			return fmt.Errorf("--network-alias is only supported on user-defined networks (not %s): create one with \"strata network create NAME\": %w", n.Name, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if opts.Name != "" && !network.ValidLabel(strings.ReplaceAll(opts.Name, "_", "-")) {
		return fmt.Errorf("container name %q cannot be resolved on network %s: use letters, digits, '-' and '_' (a DNS label, at most 63 characters): %w", opts.Name, n.Name, errdefs.ErrInvalidArgument)
	}
	for _, a := range no.Aliases {
		if !network.ValidLabel(strings.ReplaceAll(a, "_", "-")) {
			return fmt.Errorf("invalid --network-alias %q: want a DNS label (letters, digits, '-', at most 63 characters): %w", a, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// files are the container's /etc/hosts and /etc/resolv.conf and the
// flags they are written from.
func (s *Store) files(c *Container) network.Files {
	no := c.Options.NetworkOptions
	dir := s.dir(c.ID)
	return network.Files{
		HostsPath: filepath.Join(dir, "hosts"), ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		ExtraHosts: no.ExtraHosts, DNS: no.DNS, DNSSearch: no.DNSSearch, DNSOptions: no.DNSOptions,
	}
}

// requests are the networks container c joins at start: --network, then
// those connected since.
func (s *Store) requests(c *Container) []network.Request { return networkRequests(c) }

// attach gives container c its network sandbox (see network.Attach) and
// returns the namespace runc is to join; "" for none and host.
func (s *Store) attach(c *Container) (string, error) {
	mode := s.networkMode(c.Options.Network)
	if !mode.Networked() {
		return "", s.files(c).WriteDetached(c.Options.Hostname, mode.Host())
	}
	if s.net == nil {
		return "", fmt.Errorf("network %s: this store has no networks: %w", mode, errdefs.ErrInvalidArgument)
	}
	sb, err := s.net.Attach(network.AttachOptions{
		ID: c.ID, Name: c.Name, Hostname: c.Options.Hostname,
		Networks: s.requests(c), Files: s.files(c),
	})
	if err != nil {
		return "", err
	}
	return sb.Netns, nil
}

// Networks is the store's network manager (nil without one).
func (s *Store) Networks() *network.Manager { return s.net }

// exists reports whether container id has a record (the network
// manager's sweep releases the sandboxes of those that do not).
func (s *Store) exists(id string) bool {
	_, err := os.Stat(filepath.Join(s.dir(id), "config.json"))
	return err == nil
}

// networkUsers names the containers configured with network n, running
// or not.
func (s *Store) networkUsers(n *network.Network) []string {
	var out []string
	for _, c := range s.recordsWhere(func(c *Container) bool {
		return slices.ContainsFunc(s.requests(c), func(r network.Request) bool { return r.Network == n.Name || r.Network == n.ID })
	}) {
		out = append(out, c.Name)
	}
	return out
}

// recordsWhere returns the containers, running or not, whose record
// match accepts (records unreadable or removed meanwhile are skipped).
func (s *Store) recordsWhere(match func(c *Container) bool) []*Container {
	ids, err := s.ids()
	if err != nil {
		return nil
	}
	var out []*Container
	for _, id := range ids {
		if c, err := s.load(id); err == nil && match(c) {
			out = append(out, c)
		}
	}
	return out
}

// Connect joins container ref to network ref (docker network connect): at
// once if it runs, and at every start from now on.
func (s *Store) Connect(ctx context.Context, ref, netRef string, aliases []string) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if s.net == nil {
		return fmt.Errorf("network %s: this store has no networks: %w", netRef, errdefs.ErrInvalidArgument)
	}
	if mode := s.networkMode(c.Options.Network); !mode.Networked() && !c.Options.NetworkOptions.Detached {
		return fmt.Errorf("container %s uses --network %s and cannot be connected to another network: %w", c.Name, mode, errdefs.ErrConflict)
	}
	n, err := s.net.Get(netRef)
	if err != nil {
		return err
	}
	for _, r := range s.requests(c) {
		if m, err := s.net.Get(s.networkMode(runtime.NetworkMode(r.Network)).String()); err == nil && m.ID == n.ID {
			return fmt.Errorf("container %s is already connected to network %s: %w", c.Name, n.Name, errdefs.ErrConflict)
		}
	}
	if len(aliases) > 0 && !n.UserDefined() {
		return fmt.Errorf("--alias is only supported on user-defined networks (not %s): %w", n.Name, errdefs.ErrInvalidArgument)
	}
	for _, a := range aliases {
		if !network.ValidLabel(strings.ReplaceAll(a, "_", "-")) {
			return fmt.Errorf("invalid --alias %q: want a DNS label (letters, digits, '-', at most 63 characters): %w", a, errdefs.ErrInvalidArgument)
		}
	}
	r := network.Request{Network: n.Name, Aliases: aliases}
	if st, err := s.Status(ctx, c.ID); err == nil && st.Running {
		if err := s.net.Connect(c.ID, r); err != nil {
			return err
		}
	}
	if c.Options.NetworkOptions.Detached {
		// Disconnected from all: this network becomes its primary.
		c.Options.Network, c.Options.NetworkOptions.Aliases, c.Options.NetworkOptions.Detached = runtime.NetworkMode(n.Name), aliases, false
	} else {
		c.Connected = append(c.Connected, r)
	}
	if err := s.save(c); err != nil {
		return err
	}
	s.net.Event("connect", n, c.ID)
	return nil
}

// Disconnect takes container ref off network ref (docker network
// disconnect): at once if it runs, and at every start from now on.
func (s *Store) Disconnect(ctx context.Context, ref, netRef string) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if s.net == nil {
		return fmt.Errorf("network %s: this store has no networks: %w", netRef, errdefs.ErrInvalidArgument)
	}
	n, err := s.net.Get(netRef)
	if err != nil {
		return err
	}
	same := func(r network.Request) bool {
		m, err := s.net.Get(s.networkMode(runtime.NetworkMode(r.Network)).String())
		return err == nil && m.ID == n.ID
	}
	found := false
	if same(network.Request{Network: string(c.Options.Network)}) {
		// The primary network goes: the container keeps loopback only,
		// as docker's does after disconnecting its only network.
		if len(c.Connected) > 0 {
			c.Options.Network, c.Options.NetworkOptions.Aliases = runtime.NetworkMode(c.Connected[0].Network), c.Connected[0].Aliases
			c.Connected = c.Connected[1:]
		} else {
			c.Options.Network, c.Options.NetworkOptions.Aliases = runtime.NetworkNone, nil
			c.Options.NetworkOptions.Detached = true
		}
		found = true
	} else {
		for i, r := range c.Connected {
			if same(r) {
				c.Connected = append(c.Connected[:i], c.Connected[i+1:]...)
				found = true
				break
			}
		}
	}
	if !found {
		return fmt.Errorf("container %s is not connected to network %s: %w", c.Name, n.Name, errdefs.ErrNotFound)
	}
	if st, err := s.Status(ctx, c.ID); err == nil && st.Running {
		if err := s.net.Disconnect(c.ID, n.ID); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	if err := s.save(c); err != nil {
		return err
	}
	s.net.Event("disconnect", n, c.ID)
	return nil
}

// publishAll adds to ports a mapping on a free host port for each exposed
// port ("80/tcp", "53/udp", "8080") not published already (-P).
func publishAll(ports []runtime.PortMapping, exposed map[string]struct{}) ([]runtime.PortMapping, error) {
	keys := make([]string, 0, len(exposed))
	for k := range exposed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
next:
	for _, k := range keys {
		pm, err := runtime.ParsePort(k)
		if err != nil {
			return nil, fmt.Errorf("image EXPOSEs %q: %w", k, err)
		}
		for _, p := range ports {
			if p.ContainerPort == pm.ContainerPort && p.Proto == pm.Proto {
				continue next
			}
		}
		ports = append(ports, pm)
	}
	return ports, nil
}

// networkRequests are the networks container c is configured with
// (--network, then network connect's), for inspect.
func networkRequests(c *Container) []network.Request {
	o := c.Options
	out := []network.Request{{Network: string(o.Network), Aliases: o.NetworkOptions.Aliases, MAC: o.NetworkOptions.MacAddress}}
	return append(out, c.Connected...)
}
