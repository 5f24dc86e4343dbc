package network

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// Request is one network a container joins.
type Request struct {
	// Network is a name or ID (Default when empty).
	Network string
	// Aliases are more names the container answers to on a user-defined
	// network (--network-alias).
	Aliases []string
	// MAC is --mac-address ("": docker's 02:42 followed by the address).
	MAC string
}

// AttachOptions describe a container (or a build step) joining networks.
type AttachOptions struct {
	// ID is the container's ID; Name its name (both resolve on
	// user-defined networks, as the 12-character short ID does).
	ID, Name string
	// Pid, when set, owns the sandbox instead of a container record: a
	// build step's sandbox goes when that process is gone.
	Pid      int
	Hostname string
	Networks []Request
	// Files holds what /etc/hosts and /etc/resolv.conf are written from;
	// its paths are rewritten as peers join and leave.
	Files Files
}

// Sandbox is a container's network namespace and its endpoints: the
// record kept while it is attached.
type Sandbox struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	Pid       int        `json:"pid,omitempty"`
	Hostname  string     `json:"hostname,omitempty"`
	Netns     string     `json:"netns"`
	Files     Files      `json:"files"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Endpoint is a sandbox's interface on one network.
type Endpoint struct {
	NetworkID string   `json:"networkID"`
	Network   string   `json:"network"`
	Aliases   []string `json:"aliases,omitempty"`
	IfName    string   `json:"ifName"`
	HostVeth  string   `json:"hostVeth"`
	IP        string   `json:"ip,omitempty"`
	PrefixLen int      `json:"prefixLen,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
	MAC       string   `json:"mac,omitempty"`
	// HostGateway: the container may reach the host's loopback through
	// the network's gateway mapping (--add-host NAME:host-gateway).
	HostGateway bool `json:"hostGateway,omitempty"`
}

func (m *Manager) sandboxPath(id string) string {
	return filepath.Join(m.root, "sandboxes", id+".json")
}
func (m *Manager) sandboxNS(id string) string { return filepath.Join(m.root, "sandboxes", id+".netns") }

// Attach gives the container o.ID a network namespace of its own joined
// to each requested network: a veth to the network's bridge, an address,
// a default route (none on an internal network), and /etc/hosts and
// /etc/resolv.conf written at o.Files' paths. A previous sandbox of o.ID
// is released first. The namespace's path is Sandbox.Netns; Detach
// undoes it all. On error nothing is left.
func (m *Manager) Attach(o AttachOptions) (_ *Sandbox, err error) {
	if len(o.Networks) == 0 {
		o.Networks = []Request{{Network: Default}}
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	m.sweep()
	m.release(o.ID)
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{ID: o.ID, Name: o.Name, Pid: o.Pid, Hostname: o.Hostname, Netns: m.sandboxNS(o.ID), Files: o.Files}
	for i, r := range o.Networks {
		ref := r.Network
		if ref == "" {
			ref = Default
		}
		n, err := find(nets, ref)
		if err != nil {
			return nil, err
		}
		for _, e := range sb.Endpoints {
			if e.NetworkID == n.ID {
				return nil, fmt.Errorf("container %s is already connected to network %s: %w", o.Name, n.Name, errdefs.ErrConflict)
			}
		}
		sb.Endpoints = append(sb.Endpoints, Endpoint{
			NetworkID: n.ID, Network: n.Name, Aliases: r.Aliases, MAC: r.MAC,
			IfName: fmt.Sprintf("eth%d", i), HostVeth: vethName(o.ID, i),
			HostGateway: o.Files.wantsHostGateway(),
		})
	}
	// The record first: a kill -9 from here on leaves something the
	// sweep (or Detach) finds and releases.
	if err := writeJSON(m.sandboxPath(o.ID), sb); err != nil {
		return nil, fmt.Errorf("attach %s: %w", o.Name, err)
	}
	defer func() {
		if err != nil {
			m.release(o.ID)
		}
	}()
	if err := newNS(sb.Netns); err != nil {
		return nil, err
	}
	for i := range sb.Endpoints {
		n, _ := find(nets, sb.Endpoints[i].NetworkID)
		if err := m.join(n, sb, &sb.Endpoints[i]); err != nil {
			return nil, fmt.Errorf("attach %s to network %s: %w", o.Name, n.Name, err)
		}
		if err := writeJSON(m.sandboxPath(o.ID), sb); err != nil {
			return nil, err
		}
	}
	if err := m.refreshFiles(o.ID, sb.Endpoints); err != nil {
		return nil, err
	}
	return sb, nil
}

// vethName is the host side of a sandbox's i-th interface, in the
// network's namespace (15 characters at most).
func vethName(id string, i int) string {
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("v%x%d", h[:5], i)
}

// join brings n up if need be and connects the sandbox to it through e.
func (m *Manager) join(n *Network, sb *Sandbox, e *Endpoint) error {
	if err := m.up(n); err != nil {
		return err
	}
	ip, err := m.allocate(n, sb.ID)
	if err != nil {
		return err
	}
	p := n.prefix()
	e.IP, e.PrefixLen, e.Gateway = ip.String(), p.Bits(), n.Gateway
	mac := net.HardwareAddr{0x02, 0x42}
	mac = append(mac, ip.AsSlice()...)
	if e.MAC != "" {
		if mac, err = net.ParseMAC(e.MAC); err != nil {
			return fmt.Errorf("invalid MAC address %q: %w", e.MAC, errdefs.ErrInvalidArgument)
		}
	}
	e.MAC = mac.String()

	nh, err := handleAt(m.netNS(n.ID))
	if err != nil {
		return err
	}
	defer nh.Close()
	br, err := nh.LinkByName(bridgeName)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	cns, err := os.Open(sb.Netns)
	if err != nil {
		return err
	}
	defer cns.Close()
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: e.HostVeth, MasterIndex: br.Attrs().Index, MTU: mtu},
		PeerMTU:          mtu,
		PeerName:         e.IfName,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(int(cns.Fd())),
	}
	err = nh.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) {
		// This container's veth from its last run, whose namespace the
		// kernel has not finished destroying (see release).
		if old, lerr := nh.LinkByName(e.HostVeth); lerr == nil {
			_ = nh.LinkDel(old)
		}
		err = nh.LinkAdd(veth)
	}
	if err != nil {
		return fmt.Errorf("add veth %s: %w", e.HostVeth, err)
	}
	host, err := nh.LinkByName(e.HostVeth)
	if err == nil {
		err = nh.LinkSetUp(host)
	}
	if err != nil {
		return fmt.Errorf("veth %s up: %w", e.HostVeth, err)
	}
	ch, err := handleAt(sb.Netns)
	if err != nil {
		return err
	}
	defer ch.Close()
	link, err := ch.LinkByName(e.IfName)
	if err != nil {
		return fmt.Errorf("%s: %w", e.IfName, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if err := ch.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s: %w", ip, err)
	}
	if err := ch.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", e.IfName, err)
	}
	if !n.Internal && !hasDefaultRoute(ch) {
		gw := netip.MustParseAddr(n.Gateway)
		if err := ch.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	if e.HostGateway && !n.Internal {
		if err := nft(m.netNS(n.ID), fmt.Sprintf("add element ip strata hostgw { %s }\n", ip)); err != nil {
			return err
		}
	}
	return nil
}

// isDefaultRoute reports whether r is a default route through a gateway
// (netlink gives its Dst as nil or as 0.0.0.0/0, depending on the kernel).
func isDefaultRoute(r netlink.Route) bool {
	return (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw != nil
}

func hasDefaultRoute(h *netlink.Handle) bool {
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, r := range routes {
		if isDefaultRoute(r) {
			return true
		}
	}
	return false
}

// allocate picks the lowest free address of n for sandbox id. The caller
// holds the lock.
func (m *Manager) allocate(n *Network, id string) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, sb := range m.sandboxes() {
		for _, e := range sb.Endpoints {
			if e.NetworkID == n.ID && e.IP != "" {
				if a, err := netip.ParseAddr(e.IP); err == nil {
					used[a] = true
				}
			}
		}
	}
	p := n.prefix()
	gw := netip.MustParseAddr(n.Gateway)
	for a := p.Addr().Next(); p.Contains(a); a = a.Next() {
		if a == gw || used[a] {
			continue
		}
		if !p.Contains(a.Next()) { // the broadcast address
			break
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("no free address left in %s (%s): %w", n.Name, n.Subnet, errdefs.ErrUnavailable)
}

// sandboxes reads every sandbox record.
func (m *Manager) sandboxes() []*Sandbox {
	ents, _ := os.ReadDir(filepath.Join(m.root, "sandboxes"))
	var out []*Sandbox
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var sb Sandbox
		if readJSON(filepath.Join(m.root, "sandboxes", e.Name()), &sb) == nil {
			out = append(out, &sb)
		}
	}
	return out
}

// Sandbox returns the record of a container's sandbox, or ErrNotFound
// when it is not attached.
func (m *Manager) Sandbox(id string) (*Sandbox, error) {
	var sb Sandbox
	if err := readJSON(m.sandboxPath(id), &sb); err != nil {
		return nil, err
	}
	return &sb, nil
}

// users names the sandboxes attached to network id.
func (m *Manager) users(id string) []string {
	var out []string
	for _, sb := range m.sandboxes() {
		for _, e := range sb.Endpoints {
			if e.NetworkID == id {
				name := sb.Name
				if name == "" {
					name = sb.ID
				}
				out = append(out, name)
			}
		}
	}
	return out
}

// Detach releases the sandbox of container id: its veths, addresses and
// namespace; a network left without containers is torn down (its pasta
// stopped, its namespace unpinned). Idempotent.
func (m *Manager) Detach(id string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m.release(id)
	m.sweep()
	return nil
}

// release is Detach under the lock.
func (m *Manager) release(id string) {
	var sb Sandbox
	if err := readJSON(m.sandboxPath(id), &sb); err != nil {
		if errdefs.IsNotFound(err) {
			removeNS(m.sandboxNS(id))
		}
		return
	}
	// The veths go with the sandbox's namespace: unpinned, and with no
	// process left in it, the kernel destroys it (and both ends of every
	// veth in it) in the background. Deleting each veth here would wait
	// for an RCU grace period apiece, tens of ms on a busy machine, on
	// the way out of every container; a name still taken when the same
	// container starts again is handled by join.
	for i := range sb.Endpoints {
		m.revokeHostGateway(&sb.Endpoints[i])
	}
	removeNS(sb.Netns)
	_ = os.Remove(m.sandboxPath(id))
	_ = m.refreshFiles(id, sb.Endpoints)
	for _, e := range sb.Endpoints {
		if len(m.users(e.NetworkID)) == 0 {
			m.down(&Network{ID: e.NetworkID})
		}
	}
}

// dropEndpoint deletes e's veth (both ends) and its host-gateway grant,
// from a sandbox that stays (network disconnect, a failed connect).
func (m *Manager) dropEndpoint(e *Endpoint) {
	ns := m.netNS(e.NetworkID)
	if !nsPinned(ns) {
		return
	}
	if h, err := handleAt(ns); err == nil {
		if l, err := h.LinkByName(e.HostVeth); err == nil {
			_ = h.LinkDel(l)
		}
		h.Close()
	}
	m.revokeHostGateway(e)
}

// revokeHostGateway takes e's address out of its network's hostgw set.
func (m *Manager) revokeHostGateway(e *Endpoint) {
	if ns := m.netNS(e.NetworkID); e.HostGateway && e.IP != "" && nsPinned(ns) {
		_ = nft(ns, fmt.Sprintf("delete element ip strata hostgw { %s }\n", e.IP))
	}
}

// sweep releases the sandboxes whose owner is gone (a container removed,
// a build process ended, both possibly by a kill -9) and tears down the
// networks no sandbox uses. The caller holds the lock.
func (m *Manager) sweep() {
	for _, sb := range m.sandboxes() {
		gone := false
		if sb.Pid != 0 {
			gone = unix.Kill(sb.Pid, 0) == unix.ESRCH
		} else if m.alive != nil {
			gone = !m.alive(sb.ID)
		}
		if gone {
			m.release(sb.ID)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(m.root, "run"))
	for _, e := range ents {
		if len(m.users(e.Name())) == 0 {
			m.down(&Network{ID: e.Name()})
		}
	}
}

// Sweep is the clean-up at start: what a kill -9 left is released.
func (m *Manager) Sweep() error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m.sweep()
	return nil
}

// Attached returns the sandboxes attached to network id.
func (m *Manager) Attached(id string) []*Sandbox {
	var out []*Sandbox
	for _, sb := range m.sandboxes() {
		for _, e := range sb.Endpoints {
			if e.NetworkID == id {
				out = append(out, sb)
				break
			}
		}
	}
	return out
}
