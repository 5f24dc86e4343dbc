package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// DefaultDetachKeys is docker's detach sequence, Ctrl-P Ctrl-Q.
var DefaultDetachKeys = []byte{0x10, 0x11}

// ErrDetached is what Attach returns when the client typed its detach
// sequence: the client leaves, the container runs on. The text is what
// docker's attach prints.
var ErrDetached = errors.New("read escape sequence")

// ParseDetachKeys reads --detach-keys as docker does: comma-separated
// keys, each one character ("a", ",") or ctrl-X for X in a-z, @, [, \, ],
// ^ or _ (Ctrl-A is 1 … Ctrl-Z 26, Ctrl-@ 0, Ctrl-[ 27 … Ctrl-_ 31).
func ParseDetachKeys(s string) ([]byte, error) {
	bad := func(why string) ([]byte, error) {
		return nil, fmt.Errorf("invalid --detach-keys %q: %s: want comma-separated keys, each a letter or ctrl-<x> (ctrl-a…ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_), such as ctrl-p,ctrl-q: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if s == "" {
		return bad("no keys")
	}
	var out []byte
	for _, key := range strings.Split(s, ",") {
		lower := strings.ToLower(key)
		switch {
		case len(key) == 1:
			out = append(out, key[0])
		case strings.HasPrefix(lower, "ctrl-") && len(key) == 6:
			c := lower[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				out = append(out, c-'['+27)
			default:
				return bad(fmt.Sprintf("unknown key %q", key))
			}
		case key == "":
			return bad("an empty key")
		default:
			return bad(fmt.Sprintf("unknown key %q", key))
		}
	}
	return out, nil
}

// detachScanner finds the detach sequence in what the client types.
// Bytes that may begin it are held back until the next byte tells: the
// whole sequence detaches and is never sent; a mismatch sends what was
// held, as docker's escape proxy does.
type detachScanner struct {
	keys []byte
	held []byte
}

// scan returns what of p to send on, and whether the sequence is
// complete (then nothing after it is sent).
func (d *detachScanner) scan(p []byte) (send []byte, detach bool) {
	if len(d.keys) == 0 {
		return p, false
	}
	for _, b := range p {
		if b == d.keys[len(d.held)] {
			d.held = append(d.held, b)
			if len(d.held) == len(d.keys) {
				return send, true
			}
			continue
		}
		send = append(send, d.held...)
		d.held = d.held[:0]
		if b == d.keys[0] {
			d.held = append(d.held, b)
			if len(d.keys) == 1 {
				return send, true
			}
			continue
		}
		send = append(send, b)
	}
	return send, false
}
