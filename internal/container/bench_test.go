package container

import (
	"context"
	"testing"
)

// BenchmarkRunRmTrue is strata run --rm IMAGE true without the CLI:
// create, mount, monitor, runc create+start, wait, remove.
func BenchmarkRunRmTrue(b *testing.B) {
	for _, kind := range snapshotters {
		b.Run(kind.name, func(b *testing.B) {
			s, chain := newStoreTB(b, kind)
			ctx := context.Background()
			opts := baseOptions(chain, "true")
			opts.AutoRemove = true
			for b.Loop() {
				if _, code, err := s.Run(ctx, opts, RunOptions{}); err != nil || code != 0 {
					b.Fatal(code, err)
				}
			}
		})
	}
}
