package network

import (
	"net/netip"
	"strings"
	"testing"
)

// A subnet ParseSubnet accepts is an IPv4 network address whose String
// parses back to itself.
func FuzzParseSubnet(f *testing.F) {
	for _, s := range []string{"10.89.0.0/24", "172.18.0.0/16", "10.0.0.1/24", "::/64", "1.2.3.4", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSubnet(s)
		if err != nil {
			return
		}
		if !p.Addr().Is4() || p.Masked() != p || p.Bits() < 8 || p.Bits() > 29 {
			t.Fatalf("accepted %q as %v", s, p)
		}
		if q, err := ParseSubnet(p.String()); err != nil || q != p {
			t.Fatalf("%q: %v does not round-trip: %v %v", s, p, q, err)
		}
	})
}

// An --add-host ValidateExtraHost accepts becomes exactly one hosts line
// with its name; the name has no whitespace, so no other name can ride in.
func FuzzValidateExtraHost(f *testing.F) {
	for _, s := range []string{"db:10.1.2.3", "host.docker.internal:host-gateway", "v6:[::1]", "a=1.2.3.4", "bad", "x:y", "a b:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateExtraHost(s) != nil {
			return
		}
		out := Files{ExtraHosts: []string{s}}.hosts("h", "", "192.0.2.1", nil)
		extra := strings.TrimPrefix(out, hostsHead)
		if strings.Count(extra, "\n") != 1 {
			t.Fatalf("%q: %d lines: %q", s, strings.Count(extra, "\n"), extra)
		}
		f := strings.Fields(extra)
		if len(f) != 2 {
			t.Fatalf("%q: line %q", s, extra)
		}
		if _, err := netip.ParseAddr(f[0]); err != nil {
			t.Fatalf("%q: address %q: %v", s, f[0], err)
		}
	})
}
