package images

import (
	"errors"
	"testing"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestParseName(t *testing.T) {
	cases := map[string]string{
		"busybox":                       "docker.io/library/busybox:latest",
		"busybox:1.36":                  "docker.io/library/busybox:1.36",
		"localhost:5000/app":            "localhost:5000/app:latest",
		"quay.io/a/b:c":                 "quay.io/a/b:c",
		"me/app@sha256:" + sixtyFourHex: "docker.io/me/app@sha256:" + sixtyFourHex,
	}
	for in, want := range cases {
		n, err := ParseName(in)
		if err != nil || n.String() != want {
			t.Errorf("ParseName(%q) = %v, %v; want %s", in, n, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER", "a b", "busybox:", ":tag", "../x", "a//b"} {
		if _, err := ParseName(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseName(%q) = %v, want invalid argument", bad, err)
		}
	}
}

const sixtyFourHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// FuzzParseName: a name that parses prints to a string that parses to the
// same name (parse → String → parse is stable), and the familiar form
// parses back to it too.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"busybox", "localhost:5000/a/b:c", "a@sha256:" + sixtyFourHex, "x:y", "UP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		again, err := ParseName(n.String())
		if err != nil || again.String() != n.String() {
			t.Fatalf("%q → %q → %v, %v", s, n.String(), again, err)
		}
		fam, err := ParseName(Familiar(n.String()))
		if err != nil || fam.String() != n.String() {
			t.Fatalf("familiar %q of %q does not parse back: %v %v", Familiar(n.String()), n, fam, err)
		}
	})
}
