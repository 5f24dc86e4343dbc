package testutil

import (
	"testing"

	"github.com/strata-project/strata/internal/mount"
)

// RequiresOverlay skips unless the test runs as root where overlayfs
// mounts (the overlay snapshotter, and what only it does, such as the
// file pool's dedupe).
func RequiresOverlay(t testing.TB) {
	t.Helper()
	RequiresRoot(t)
	if err := mount.OverlaySupported(t.TempDir()); err != nil {
		t.Skipf("overlayfs does not mount here: %v", err)
	}
}
