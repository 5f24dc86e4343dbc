package layer

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/snapshot"
)

// Sizes is the one measure of a layer's size that images, inspect, history
// and system df all show (docker's show one figure everywhere too): the
// disk its unpacked snapshot takes, as du counts it, keyed by chain ID and
// each layer walked once. chains are images' layers, each given as its
// diffIDs bottom first. A layer whose snapshot cannot be measured counts
// its uncompressed tar size (its layer record's).
func Sizes(ctx context.Context, sn interface {
	Usage(ctx context.Context, key string) (snapshot.Usage, error)
}, db *metadata.DB, chains ...[]digest.Digest) (map[digest.Digest]int64, error) {
	sizes := map[digest.Digest]int64{}
	var records map[digest.Digest]int64 // by diffID, read on first need
	for _, diffIDs := range chains {
		for i, c := range manifest.ChainIDs(diffIDs) {
			if _, ok := sizes[c]; ok {
				continue
			}
			if u, err := sn.Usage(ctx, c.String()); err == nil {
				sizes[c] = u.Size
				continue
			}
			if records == nil {
				records = map[digest.Digest]int64{}
				if err := db.View(ctx, func(tx *metadata.Tx) error {
					ls, err := tx.Layers()
					for _, l := range ls {
						records[l.DiffID] = l.Size
					}
					return err
				}); err != nil {
					return nil, err
				}
			}
			sizes[c] = records[diffIDs[i]]
		}
	}
	return sizes, nil
}
