package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
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
// index's GC lock exclusively while it marks and sweeps (across every
// replica sharing a PostgreSQL index: an advisory lock), so an upload
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
	var candidates []backend.BlobInfo
	err := g.blobs.Walk(ctx, func(info backend.BlobInfo) error {
		if !young(info.ModTime) {
			candidates = append(candidates, info)
		}
		return nil
	})
	if err != nil {
		return GCStats{}, fmt.Errorf("gc: walk blobs: %w", err)
	}

	// Exclusive across every replica sharing the index (a PostgreSQL
	// advisory lock; an in-process lock for bbolt).
	release, err := g.meta.Lock(ctx, true)
	if err != nil {
		return GCStats{}, fmt.Errorf("gc: lock: %w", err)
	}
	defer release()

	var st GCStats
	live := map[digest.Digest]bool{} // blobs any repository keeps
	type repoGarbage struct {
		manifests []digest.Digest
		links     []digest.Digest
	}
	garbage := map[string]*repoGarbage{}

	err = g.meta.Repos(ctx, func(rs backend.RepoState) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs := rs.Manifests
		// Roots: tags and manifests in the grace window.
		reach := map[digest.Digest]bool{}
		var queue []digest.Digest
		mark := func(d digest.Digest) {
			if !reach[d] && recs[d] != nil {
				reach[d] = true
				queue = append(queue, d)
			}
		}
		for _, d := range rs.Tags {
			mark(d)
		}
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
		rg := &repoGarbage{}
		needed := map[digest.Digest]bool{}
		for d, rec := range recs {
			if !reach[d] {
				rg.manifests = append(rg.manifests, d)
				continue
			}
			live[d] = true
			for _, bd := range rec.Blobs {
				needed[bd] = true
				live[bd] = true
			}
		}
		for d, linked := range rs.Links {
			if needed[d] || young(linked) {
				live[d] = true
				continue
			}
			rg.links = append(rg.links, d)
		}
		if len(rg.manifests) > 0 || len(rg.links) > 0 {
			garbage[rs.Name] = rg
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("gc mark: %w", err)
	}

	for name, rg := range garbage {
		for _, d := range rg.manifests {
			fmt.Fprintf(out, "%s manifest %s@%s\n", verb, name, d)
			st.Manifests++
		}
		for _, d := range rg.links {
			fmt.Fprintf(out, "%s link %s@%s\n", verb, name, d)
			st.Links++
		}
		if !opts.DryRun {
			if err := g.meta.Sweep(ctx, name, rg.manifests, rg.links); err != nil {
				return st, fmt.Errorf("gc sweep index: %w", err)
			}
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
		if err := g.blobs.Delete(ctx, info.Digest); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return st, fmt.Errorf("gc: %w", err)
		}
	}
	return st, nil
}
