package testutil

import (
	"os"
	"testing"
)

// RequiresRoot skips t unless the test runs as root (euid 0). Mounts,
// chown, devices and trusted.* xattrs all need it.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipping %s: needs root (euid 0, have %d) for mounts, chown, devices or trusted.* xattrs", t.Name(), os.Geteuid())
	}
}
