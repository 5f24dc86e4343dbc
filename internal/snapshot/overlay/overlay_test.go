package overlay

import (
	"testing"

	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/snapshottest"
)

func newSnapshotter(root string) (snapshot.Snapshotter, error) { return New(root) }

func requiresOverlay(t testing.TB) {
	t.Helper()
	snapshottest.RequiresRoot(t)
	if err := mount.OverlaySupported(t.TempDir()); err != nil {
		t.Skipf("overlayfs does not work here, so the overlay snapshotter cannot: %v", err)
	}
}

func TestOverlay(t *testing.T) {
	requiresOverlay(t)
	snapshottest.Run(t, newSnapshotter)
}

func BenchmarkPrepareMountRemove(b *testing.B) {
	requiresOverlay(b)
	snapshottest.Bench(b, newSnapshotter)
}
