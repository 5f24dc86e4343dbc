package runtime

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// renderDetachKeys writes keys as --detach-keys spells them.
func renderDetachKeys(keys []byte) string {
	var parts []string
	for _, b := range keys {
		switch {
		case b == 0:
			parts = append(parts, "ctrl-@")
		case b >= 1 && b <= 26:
			parts = append(parts, fmt.Sprintf("ctrl-%c", 'a'+b-1))
		case b >= 27 && b <= 31:
			parts = append(parts, fmt.Sprintf("ctrl-%c", '['+b-27))
		default:
			parts = append(parts, string([]byte{b}))
		}
	}
	return strings.Join(parts, ",")
}

// FuzzParseDetachKeys: accepted keys are at least one byte and read back
// the same from their canonical spelling; and the scanner, fed what the
// client types, sends it all on (what it holds back included) unless the
// sequence is in it, and then sends only what came before.
func FuzzParseDetachKeys(f *testing.F) {
	for _, s := range []string{"ctrl-p,ctrl-q", "ctrl-x,x", "a", "ctrl-@,ctrl-_", "CTRL-A", "ctrl-bogus", "a,,b", "", "ctrl-", "ab", ","} {
		f.Add(s, []byte("echo hi\x10\x11rest"))
	}
	f.Fuzz(func(t *testing.T, spec string, typed []byte) {
		keys, err := ParseDetachKeys(spec)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatalf("%q: no keys", spec)
		}
		if again, err := ParseDetachKeys(renderDetachKeys(keys)); err != nil || !bytes.Equal(again, keys) {
			t.Fatalf("%q = %v reads back as %v, %v", spec, keys, again, err)
		}
		d := &detachScanner{keys: keys}
		send, detach := d.scan(typed)
		if !detach {
			if got := append(append([]byte{}, send...), d.held...); !bytes.Equal(got, typed) {
				t.Fatalf("keys %v, typed %q: sent %q holding %q", keys, typed, send, d.held)
			}
			return
		}
		if !bytes.Contains(typed, keys) || !bytes.HasPrefix(typed, send) {
			t.Fatalf("keys %v, typed %q: detached, sending %q", keys, typed, send)
		}
	})
}
