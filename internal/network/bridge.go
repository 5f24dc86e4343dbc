package network

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
)

// bridgeName is the bridge inside a network's namespace.
const bridgeName = "br0"

// mtu is pasta's (65520), on the bridge and veths too: a smaller one
// would have the network's namespace fragment or drop what pasta sends
// on (it sizes segments to its tap's MTU), and a larger one means fewer
// packets through every hop.
const mtu = 65520

func (m *Manager) runDir(id string) string { return filepath.Join(m.root, "run", id) }
func (m *Manager) netNS(id string) string  { return filepath.Join(m.runDir(id), "netns") }

// up makes sure n's namespace exists with its bridge, forwarding, NAT and
// (unless internal) pasta giving it outbound. Idempotent; the caller holds
// the lock.
func (m *Manager) up(n *Network) error {
	ns := m.netNS(n.ID)
	if nsPinned(ns) && (n.Internal || pastaAlive(m.runDir(n.ID))) {
		return nil
	}
	m.down(n) // half-made (a kill -9 mid-way): start over
	if err := os.MkdirAll(m.runDir(n.ID), 0o700); err != nil {
		return err
	}
	if err := newNS(ns); err != nil {
		return err
	}
	if err := m.setUp(n, ns); err != nil {
		m.down(n)
		return fmt.Errorf("set up network %s: %w", n.Name, err)
	}
	return nil
}

func (m *Manager) setUp(n *Network, ns string) error {
	h, err := handleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	p := n.prefix()
	gw := netip.MustParseAddr(n.Gateway)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, MTU: mtu}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if err := h.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("bridge address %s: %w", n.Gateway, err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge up: %w", err)
	}
	if n.Internal {
		return nil
	}
	if err := inNS(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		return fmt.Errorf("enable forwarding: %w", err)
	}
	// The gateway pasta gives the namespace is the host's, as pasta picks
	// it (and is told, so the two cannot differ): known before pasta runs,
	// so the nft rules that keep containers from it are made meanwhile.
	hostGW, err := hostDefaultGateway()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m.runDir(n.ID), "host-gateway"), []byte(hostGW.String()), 0o600); err != nil {
		return err
	}
	nets, err := m.list()
	if err != nil {
		return err
	}
	// One nft run for the table and every other network's subnet: each
	// run is an nsenter and an nft to start.
	rules := natRules(p, hostGW)
	for _, o := range nets {
		if o.ID != n.ID {
			rules += isolate(o)
		}
	}
	// pasta and nft side by side: each mostly waits (pasta on its own
	// start-up, nft on the kernel's commit of new hooks), so a network's
	// first container waits for the longer of the two, not their sum. No
	// container is attached before both are done.
	nftErr := make(chan error, 1)
	go func() { nftErr <- nft(ns, rules) }()
	perr := startPasta(ns, m.runDir(n.ID), hostGW)
	if err := <-nftErr; err != nil {
		return err
	}
	return perr
}

// isolate keeps a network's containers from network o: its subnet is only
// inside another namespace, so without this rule a packet to it would
// leave through pasta for whatever the host's routes say.
func isolate(o *Network) string {
	return fmt.Sprintf("add element ip strata others { %s }\n", o.Subnet)
}

// isolateAll adds network n to the isolation set of every running
// network (a network made after they came up). The caller holds the lock.
func (m *Manager) isolateAll(n *Network) {
	ents, _ := os.ReadDir(filepath.Join(m.root, "run"))
	for _, e := range ents {
		if ns := m.netNS(e.Name()); e.Name() != n.ID && nsPinned(ns) && pastaAlive(m.runDir(e.Name())) {
			_ = nft(ns, isolate(n))
		}
	}
}

// natRules masquerade the subnet's traffic out of pasta's interface and
// keep the containers from other networks' subnets (the others set) and
// from pasta's gateway address, which pasta maps to
// the host's loopback, unless a container asked for it (--add-host
// NAME:host-gateway puts its address in the hostgw set). Packets conntrack
// finds invalid are dropped on input: pasta (2023-03) sends window
// updates without the ACK flag, which conntrack does not translate back,
// so they would reach this namespace's own stack and be answered with a
// RST that kills the container's connection.
func natRules(p netip.Prefix, hostGW netip.Addr) string {
	return fmt.Sprintf(`table ip strata {
	set hostgw { type ipv4_addr; }
	set others { type ipv4_addr; flags interval; }
	chain nat_out {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[1]s oifname != "%[3]s" masquerade
	}
	chain guard_in {
		type filter hook input priority filter; policy accept;
		ct state invalid drop
	}
	chain guard {
		type filter hook forward priority filter; policy accept;
		ip daddr %[2]s ip saddr != @hostgw drop
		ip daddr @others drop
	}
}
`, p, hostGW, bridgeName)
}

// nft runs the nft command on script inside the namespace at ns.
func nft(ns, script string) error {
	cmd := exec.Command("nsenter", "--net="+ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// hostDefaultGateway is the gateway of the IPv4 default route of the
// host (this process's namespace), which pasta maps to the host's
// loopback in a network's namespace.
func hostDefaultGateway() (netip.Addr, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("routes: %w", err)
	}
	for _, r := range routes {
		if isDefaultRoute(r) {
			if a, ok := netip.AddrFromSlice(r.Gw.To4()); ok {
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("the host has no IPv4 default route, which pasta needs for outbound: use --network none, or an --internal network")
}

// hostGateway is the address that reaches the host's loopback from n's
// containers (pasta's mapped gateway), or "" for an internal network.
func (m *Manager) hostGateway(n *Network) string {
	b, err := os.ReadFile(filepath.Join(m.runDir(n.ID), "host-gateway"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// down stops n's pasta and unpins its namespace: the bridge and whatever
// veths are left go with it. The caller holds the lock.
func (m *Manager) down(n *Network) {
	dir := m.runDir(n.ID)
	stopPasta(dir)
	removeNS(m.netNS(n.ID))
	_ = os.RemoveAll(dir)
}
