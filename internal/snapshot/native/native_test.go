package native

import (
	"testing"

	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/snapshottest"
)

func newSnapshotter(root string) (snapshot.Snapshotter, error) { return New(root) }

func TestNative(t *testing.T) {
	snapshottest.Run(t, newSnapshotter)
}

func BenchmarkPrepareMountRemove(b *testing.B) {
	snapshottest.Bench(b, newSnapshotter)
}
