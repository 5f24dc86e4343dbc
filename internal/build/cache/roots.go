package cache

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/layer"
)

// Roots are the gc roots of the build cache: each record's snapshot and
// layer blob, or its tar-split index where the blob was not stored. The
// engine registers them when it opens.
func (s *Store) Roots(ctx context.Context) (gc.Roots, error) {
	roots := gc.Roots{Blobs: map[digest.Digest]bool{}, Snapshots: map[string]bool{}}
	recs, err := s.Records(ctx)
	if err != nil {
		return roots, err
	}
	for _, r := range recs {
		if r.Empty {
			continue
		}
		roots.Snapshots[r.ChainID.String()] = true
		if r.Index != nil && layer.Unstored(r.Blob, r.DiffID) {
			roots.Blobs[r.Index.Digest] = true // the blob itself was never stored
		} else {
			roots.Blobs[r.Blob.Digest] = true
		}
	}
	return roots, nil
}
