package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
)

// Fsck re-hashes every stored blob and checks every link of the index: each
// linked blob, manifest, tag target and each blob a manifest needs must be
// in the store (or, for tags and index children, in the repository). It
// writes one line per problem to out and returns an ErrDataCorrupt error
// counting them, or nil.
func (g *Registry) Fsck(ctx context.Context, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	problems := 0
	report := func(format string, a ...any) {
		problems++
		fmt.Fprintf(out, format+"\n", a...)
	}
	present := map[digest.Digest]bool{}
	err := g.store.Walk(ctx, func(info content.Info) error {
		if err := g.store.Verify(ctx, info.Digest); err != nil {
			if errors.Is(err, errdefs.ErrDataCorrupt) {
				report("corrupt blob %s: %v", info.Digest, err)
				return nil
			}
			if errors.Is(err, errdefs.ErrNotFound) {
				return nil // deleted meanwhile
			}
			return err
		}
		present[info.Digest] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("fsck blobs: %w", err)
	}
	err = g.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEach(func(name, _ []byte) error {
			b := tx.Bucket(bucketRepos).Bucket(name)
			manifests := b.Bucket(bucketManifests)
			_ = b.Bucket(bucketBlobs).ForEach(func(k, _ []byte) error {
				if !present[digest.Digest(k)] {
					report("%s: linked blob %s missing", name, k)
				}
				return nil
			})
			_ = manifests.ForEach(func(k, v []byte) error {
				if !present[digest.Digest(k)] {
					report("%s: manifest %s missing", name, k)
				}
				var rec manifestRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					report("%s: manifest %s: bad index record: %v", name, k, err)
					return nil
				}
				for _, d := range rec.Blobs {
					if !present[d] {
						report("%s: manifest %s needs missing blob %s", name, k, d)
					}
				}
				for _, d := range rec.Children {
					if manifests.Get([]byte(d)) == nil {
						report("%s: index %s lists missing manifest %s", name, k, d)
					}
				}
				return nil
			})
			_ = b.Bucket(bucketTags).ForEach(func(k, v []byte) error {
				if manifests.Get(v) == nil {
					report("%s: tag %s points at missing manifest %s", name, k, v)
				}
				return nil
			})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("fsck index: %w", err)
	}
	if problems > 0 {
		return fmt.Errorf("fsck: %d problems: %w", problems, errdefs.ErrDataCorrupt)
	}
	return nil
}
