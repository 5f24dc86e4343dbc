package overlay

import (
	"path/filepath"

	"testing"

	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/filepool"
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

// TestOverlayWithPool runs the suite with every commit deduped into a file
// pool: the snapshots must behave exactly as without.
func TestOverlayWithPool(t *testing.T) {
	requiresOverlay(t)
	snapshottest.Run(t, func(root string) (snapshot.Snapshotter, error) {
		s, err := New(root)
		if err != nil {
			return nil, err
		}
		if s.Pool, err = filepool.Open(filepath.Join(root, "files")); err != nil {
			return nil, err
		}
		return s, nil
	})
}
