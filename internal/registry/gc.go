package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
)

// GCOptions say how GC runs.
type GCOptions struct {
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// Grace protects anything younger (default: Options.GCGrace).
	Grace time.Duration
	// Force lets a client ask a live server for a Grace below MinGCGrace
	// (the admin endpoint and the CLI check it; GC itself does not).
	Force bool
	// Out, when set, receives one line per manifest, link and blob
	// removed (or, with DryRun, that would be).
	Out io.Writer
}

// GCStats counts what a GC run removed (or would have).
type GCStats struct {
	Manifests, Links, Blobs int
	Bytes                   int64
}

func (s GCStats) String() string {
	return fmt.Sprintf("%d manifests, %d blob links, %d blobs (%d bytes)", s.Manifests, s.Links, s.Blobs, s.Bytes)
}

// GC collects garbage while the registry serves.
//
// Mark: per repository, the manifests reachable from its tags, the
// children of reachable indexes, and the referrers of reachable manifests
// (to a fixpoint) are live, and so is any manifest put within the grace
// window. Live manifests keep their own bytes, their config and their
// layers; a repository's blob link is kept while a live manifest of that
// repository needs it or while it is younger than the grace window.
// Sweep: unreachable manifests and links older than grace leave the index,
// then store blobs no repository still links or lists, older than grace,
// are deleted.
//
// GC walks the store for blobs older than grace first, then holds the
// registry's GC lock exclusively while it marks and sweeps, so an upload
// finishing, a mount or a manifest put (which take it shared between
// relying on a blob and recording it) never sees a blob vanish under it:
// whatever they recorded before GC took the lock is in the index GC reads,
// and whatever comes after finds the blob gone and stores it again.
func (g *Registry) GC(ctx context.Context, opts GCOptions) (GCStats, error) {
	if opts.Grace <= 0 {
		opts.Grace = g.opts.GCGrace
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	verb := "delete"
	if opts.DryRun {
		verb = "would delete"
	}
	now := time.Now()
	young := func(t time.Time) bool { return now.Sub(t) < opts.Grace }

	// Candidates first, without the lock (the walk is the slow part): only
	// blobs already older than grace can go, and whether they are still
	// referenced is decided under the lock below, from the index.
	var candidates []content.Info
	err := g.store.Walk(ctx, func(info content.Info) error {
		if !young(info.ModTime) {
			candidates = append(candidates, info)
		}
		return nil
	})
	if err != nil {
		return GCStats{}, fmt.Errorf("gc: walk blobs: %w", err)
	}

	g.gcMu.Lock()
	defer g.gcMu.Unlock()

	var st GCStats
	live := map[digest.Digest]bool{} // blobs any repository keeps
	type repoGarbage struct {
		manifests map[digest.Digest]*manifestRecord
		links     []digest.Digest
	}
	garbage := map[string]*repoGarbage{}

	err = g.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEach(func(name, _ []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := tx.Bucket(bucketRepos).Bucket(name)
			recs := map[digest.Digest]*manifestRecord{}
			err := b.Bucket(bucketManifests).ForEach(func(k, v []byte) error {
				var rec manifestRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("index record %s@%s: %w", name, k, err)
				}
				recs[digest.Digest(k)] = &rec
				return nil
			})
			if err != nil {
				return err
			}
			// Roots: tags and manifests in the grace window.
			reach := map[digest.Digest]bool{}
			var queue []digest.Digest
			mark := func(d digest.Digest) {
				if !reach[d] && recs[d] != nil {
					reach[d] = true
					queue = append(queue, d)
				}
			}
			_ = b.Bucket(bucketTags).ForEach(func(_, v []byte) error {
				mark(digest.Digest(v))
				return nil
			})
			for d, rec := range recs {
				if young(rec.Created) {
					mark(d)
				}
			}
			// Referrers by subject, to follow from a live subject.
			referrers := map[digest.Digest][]digest.Digest{}
			for d, rec := range recs {
				if rec.Subject != "" {
					referrers[rec.Subject] = append(referrers[rec.Subject], d)
				}
			}
			for len(queue) > 0 {
				d := queue[0]
				queue = queue[1:]
				for _, c := range recs[d].Children {
					mark(c)
				}
				for _, ref := range referrers[d] {
					mark(ref)
				}
			}
			rg := &repoGarbage{manifests: map[digest.Digest]*manifestRecord{}}
			needed := map[digest.Digest]bool{}
			for d, rec := range recs {
				if !reach[d] {
					rg.manifests[d] = rec
					continue
				}
				live[d] = true
				for _, bd := range rec.Blobs {
					needed[bd] = true
					live[bd] = true
				}
			}
			err = b.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
				d := digest.Digest(k)
				if needed[d] || young(decodeTime(v)) {
					live[d] = true
					return nil
				}
				rg.links = append(rg.links, d)
				return nil
			})
			if err != nil {
				return err
			}
			if len(rg.manifests) > 0 || len(rg.links) > 0 {
				garbage[string(name)] = rg
			}
			return nil
		})
	})
	if err != nil {
		return st, fmt.Errorf("gc mark: %w", err)
	}

	for name, rg := range garbage {
		for d := range rg.manifests {
			fmt.Fprintf(out, "%s manifest %s@%s\n", verb, name, d)
			st.Manifests++
		}
		for _, d := range rg.links {
			fmt.Fprintf(out, "%s link %s@%s\n", verb, name, d)
			st.Links++
		}
	}
	if !opts.DryRun && len(garbage) > 0 {
		err := g.db.Update(func(tx *bolt.Tx) error {
			for name, rg := range garbage {
				b, _ := repoBucket(tx, name, false)
				if b == nil {
					continue
				}
				for d, rec := range rg.manifests {
					if err := deleteManifest(b, d, rec); err != nil {
						return err
					}
				}
				for _, d := range rg.links {
					if err := b.Bucket(bucketBlobs).Delete([]byte(d)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("gc sweep index: %w", err)
		}
	}

	for _, info := range candidates {
		if live[info.Digest] {
			continue
		}
		fmt.Fprintf(out, "%s blob %s (%d bytes)\n", verb, info.Digest, info.Size)
		st.Blobs++
		st.Bytes += info.Size
		if opts.DryRun {
			continue
		}
		if err := g.store.Delete(ctx, info.Digest); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return st, fmt.Errorf("gc: %w", err)
		}
	}
	return st, nil
}
