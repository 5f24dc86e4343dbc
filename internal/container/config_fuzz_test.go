package container

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseExpose: what --expose accepts reads back as itself, one port
// per key, every key a port from 1 to 65535 with a known protocol, in
// order without gaps.
func FuzzParseExpose(f *testing.F) {
	for _, s := range []string{"80", "80/udp", "7000-7002/tcp", "1-1", "65535/sctp", "0", "90-80", "x", "80/icmp", "-", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		keys, err := ParseExpose(v)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatalf("%q: no ports", v)
		}
		prev := 0
		for i, k := range keys {
			port, proto, ok := strings.Cut(k, "/")
			n, err := strconv.Atoi(port)
			if !ok || err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
				t.Fatalf("%q gave key %q", v, k)
			}
			if i > 0 && n != prev+1 {
				t.Fatalf("%q: keys %v not consecutive", v, keys)
			}
			prev = n
			again, err := ParseExpose(k)
			if err != nil || len(again) != 1 || again[0] != k {
				t.Fatalf("key %q of %q reads back as %v, %v", k, v, again, err)
			}
		}
	})
}
