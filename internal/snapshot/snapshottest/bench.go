package snapshottest

import (
	"context"
	"fmt"
	"testing"

	"github.com/strata-project/strata/internal/mount"
)

// Bench measures what starting and removing a container costs: Prepare on
// a 10-layer chain, mount, unmount and Remove.
func Bench(b *testing.B, newFn NewFunc) {
	RequiresRoot(b)
	ctx := context.Background()
	sn, err := newFn(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer sn.Close()
	parent := ""
	for i := range 10 {
		name := fmt.Sprintf("layer-%d", i)
		files := map[string]string{}
		for j := range 20 {
			files[fmt.Sprintf("%s/file-%d", name, j)] = name
		}
		commitLayer(b, ctx, sn, name, parent, files)
		parent = name
	}
	target := b.TempDir()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("container-%d", i)
		mounts, err := sn.Prepare(ctx, key, parent)
		if err != nil {
			b.Fatal(err)
		}
		if err := mount.All(mounts, target); err != nil {
			b.Fatal(err)
		}
		if err := mount.UnmountAll(target, 0); err != nil {
			b.Fatal(err)
		}
		if err := sn.Remove(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
