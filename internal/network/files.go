package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// Files are a container's /etc/hosts and /etc/resolv.conf: where they are
// (host files the runtime bind-mounts) and the flags they are written
// from, as docker writes them.
type Files struct {
	HostsPath      string `json:"hostsPath,omitempty"`
	ResolvConfPath string `json:"resolvConfPath,omitempty"`
	// ExtraHosts are --add-host NAME:IP; IP "host-gateway" is the
	// address that reaches the host (its loopback, through pasta).
	ExtraHosts []string `json:"extraHosts,omitempty"`
	// DNS, DNSSearch and DNSOptions replace the host's nameservers,
	// search domains and options.
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dnsSearch,omitempty"`
	DNSOptions []string `json:"dnsOptions,omitempty"`
}

// HostGatewayName is --add-host's special address.
const HostGatewayName = "host-gateway"

func (f Files) wantsHostGateway() bool {
	for _, h := range f.ExtraHosts {
		if _, ip, _ := strings.Cut(h, ":"); ip == HostGatewayName {
			return true
		}
	}
	return false
}

// Validate checks the flags Files holds, each error naming the value.
func (f Files) Validate() error {
	for _, h := range f.ExtraHosts {
		if err := ValidateExtraHost(h); err != nil {
			return err
		}
	}
	for _, d := range f.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("invalid --dns %q: want an IP address such as 192.0.2.53: %w", d, errdefs.ErrInvalidArgument)
		}
	}
	for _, s := range f.DNSSearch {
		if s != "." && !ValidDomain(s) {
			return fmt.Errorf("invalid --dns-search %q: want a domain name: %w", s, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// ValidateMAC checks --mac-address: a unicast Ethernet address.
func ValidateMAC(s string) error {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
		return fmt.Errorf("invalid --mac-address %q: want a unicast Ethernet address such as 02:42:ac:11:00:02: %w", s, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ValidateExtraHost checks --add-host NAME:IP (or NAME:host-gateway).
// Docker also takes NAME=IP.
func ValidateExtraHost(h string) error {
	name, ip, ok := strings.Cut(strings.Replace(h, "=", ":", 1), ":")
	if !ok || !ValidDomain(name) {
		return fmt.Errorf("invalid --add-host %q: want HOST:IP (or HOST:%s): %w", h, HostGatewayName, errdefs.ErrInvalidArgument)
	}
	if ip == HostGatewayName {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
		return fmt.Errorf("invalid --add-host %q: %q is not an IP address (or %s): %w", h, ip, HostGatewayName, errdefs.ErrInvalidArgument)
	}
	return nil
}

var labelPattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// ValidLabel reports whether s is a DNS label (RFC 1123): what a name
// must be to resolve on a user-defined network.
func ValidLabel(s string) bool { return labelPattern.MatchString(s) }

// ValidDomain reports whether s is a host name: dot-separated labels of
// letters, digits, '-' and '_' (which resolvers take in hosts files).
func ValidDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !ValidLabel(strings.ReplaceAll(l, "_", "-")) {
			return false
		}
	}
	return true
}

// hostsHead is what docker's /etc/hosts starts with.
const hostsHead = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"

// peer is another container on one of a sandbox's user networks.
type peer struct {
	ip    string
	names []string
}

// hosts is the /etc/hosts of a container: docker's head, the extra
// hosts, its own address and name, then (hosts standing in for docker's
// embedded DNS on user-defined networks) its peers by name, alias and
// short ID.
func (f Files) hosts(hostname, ownIP, hostGW string, peers []peer) string {
	var b strings.Builder
	b.WriteString(hostsHead)
	for _, h := range f.ExtraHosts {
		name, ip, _ := strings.Cut(strings.Replace(h, "=", ":", 1), ":")
		if ip == HostGatewayName {
			if hostGW == "" {
				continue
			}
			ip = hostGW
		}
		fmt.Fprintf(&b, "%s\t%s\n", strings.Trim(ip, "[]"), name)
	}
	if ownIP != "" {
		fmt.Fprintf(&b, "%s\t%s\n", ownIP, hostname)
	}
	for _, p := range peers {
		fmt.Fprintf(&b, "%s\t%s\n", p.ip, strings.Join(p.names, " "))
	}
	return b.String()
}

// resolvConf is the container's /etc/resolv.conf as docker writes it: the
// host's (less loopback nameservers, which mean nothing in another
// namespace, unless host) with --dns, --dns-search and --dns-option
// replacing their lines; with no nameserver left, docker's fallback.
func (f Files) resolvConf(host bool) string {
	var ns, search, opts, other []string
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			fl := strings.Fields(line)
			switch {
			case len(fl) >= 2 && fl[0] == "nameserver":
				a, err := netip.ParseAddr(fl[1])
				if err != nil || (!host && (a.IsLoopback() || a.Is6())) {
					continue // this network is IPv4 only
				}
				ns = append(ns, fl[1])
			case len(fl) >= 2 && (fl[0] == "search" || fl[0] == "domain"):
				search = fl[1:]
			case len(fl) >= 2 && fl[0] == "options":
				opts = append(opts, fl[1:]...)
			case len(fl) > 0 && !strings.HasPrefix(fl[0], "#") && !strings.HasPrefix(fl[0], ";"):
				other = append(other, line)
			}
		}
	}
	if len(f.DNS) > 0 {
		ns = f.DNS
	}
	if len(f.DNSSearch) > 0 {
		search = f.DNSSearch
		if len(search) == 1 && search[0] == "." {
			search = nil
		}
	}
	if len(f.DNSOptions) > 0 {
		opts = f.DNSOptions
	}
	if len(ns) == 0 && !host {
		ns = []string{"8.8.8.8", "8.8.4.4"}
	}
	var b strings.Builder
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}

// WriteDetached writes the files of a container with no sandbox:
// --network none (loopback only) or host (the host's resolvers, and
// host-gateway is the host's own loopback).
func (f Files) WriteDetached(hostname string, host bool) error {
	gw, own := "", ""
	if host {
		gw = "127.0.0.1"
	} else {
		own = "127.0.1.1" // as Debian does, so the hostname resolves
	}
	if f.HostsPath != "" {
		if err := writeInPlace(f.HostsPath, f.hosts(hostname, own, gw, nil)); err != nil {
			return err
		}
	}
	if f.ResolvConfPath != "" {
		return writeInPlace(f.ResolvConfPath, f.resolvConf(host))
	}
	return nil
}

// writeInPlace rewrites path keeping its inode: a running container has
// it bind-mounted.
func writeInPlace(path, data string) error {
	return os.WriteFile(path, []byte(data), 0o644)
}

// refreshFiles rewrites the files of sandbox self (when attached) and of
// every sandbox sharing a user-defined network of eps with it, so names
// resolve to who is there now. Those on the default network alone list
// no peers, so one joining or leaving changes nothing of theirs. The
// caller holds the lock.
func (m *Manager) refreshFiles(self string, eps []Endpoint) error {
	all := m.sandboxes()
	nets, _ := m.list()
	user := map[string]bool{}
	for _, n := range nets {
		user[n.ID] = n.UserDefined()
	}
	ids := map[string]bool{}
	for _, e := range eps {
		ids[e.NetworkID] = user[e.NetworkID]
	}
	var firstErr error
	for _, sb := range all {
		touched := sb.ID == self
		for _, e := range sb.Endpoints {
			touched = touched || ids[e.NetworkID]
		}
		if !touched {
			continue
		}
		var peers []peer
		seen := map[string]bool{}
		for _, e := range sb.Endpoints {
			if !user[e.NetworkID] {
				continue
			}
			for _, o := range all {
				if o.ID == sb.ID {
					continue
				}
				for _, oe := range o.Endpoints {
					if oe.NetworkID != e.NetworkID || oe.IP == "" || seen[oe.IP] {
						continue
					}
					seen[oe.IP] = true
					names := []string{}
					if o.Name != "" {
						names = append(names, o.Name)
					}
					names = append(names, oe.Aliases...)
					if o.Pid == 0 && len(o.ID) >= 12 {
						names = append(names, o.ID[:12])
					}
					peers = append(peers, peer{ip: oe.IP, names: names})
				}
			}
		}
		own, gw := "", ""
		for _, e := range sb.Endpoints {
			if own == "" {
				own = e.IP
			}
			if gw == "" && e.HostGateway {
				gw = m.hostGateway(&Network{ID: e.NetworkID})
			}
		}
		if sb.Files.HostsPath != "" {
			if err := writeInPlace(sb.Files.HostsPath, sb.Files.hosts(sb.Hostname, own, gw, peers)); err != nil && firstErr == nil && !os.IsNotExist(err) {
				firstErr = err
			}
		}
		if sb.Files.ResolvConfPath != "" {
			if err := writeInPlace(sb.Files.ResolvConfPath, sb.Files.resolvConf(false)); err != nil && firstErr == nil && !os.IsNotExist(err) {
				firstErr = err
			}
		}
	}
	return firstErr
}
