package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/filters"
	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/layer"
)

// GCOptions tune a collection.
type GCOptions struct {
	DryRun bool
}

// GCReport says what a collection removed.
type GCReport struct {
	gc.Report
	Layers  int // layer records forgotten
	Ingests int // abandoned ingests removed
	Extract int // half-unpacked snapshots of dead processes removed
	// PushSessions is the upload sessions of cut pushes, older than a
	// day, removed.
	PushSessions int
	// PoolFiles and PoolBytes are the file pool entries no snapshot links
	// to any more, removed after the snapshots. Their bytes are not added
	// to Reclaimed: the snapshots' sizes already counted them.
	PoolFiles int
	PoolBytes int64
	// Cache is the layer blobs evicted to bring the blob cache within
	// its budget.
	Cache layer.Trimmed
}

// Reclaimed is the bytes freed.
func (r GCReport) Reclaimed() int64 { return r.BlobBytes + r.SnapshotBytes + r.Cache.Bytes }

// staleIngest is how long a resumable ingest (a pull cut short) is kept.
const staleIngest = 24 * time.Hour

// GC removes every blob, snapshot and layer record that no image, container
// or cache entry references, and the leftovers of dead processes. It holds
// the gc lock exclusively, so it waits for running imports, pulls and builds.
func (e *Engine) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	var rep GCReport
	unlock, err := e.lock(ctx, true)
	if err != nil {
		return rep, err
	}
	defer unlock()
	roots, err := e.roots(ctx)
	if err != nil {
		return rep, err
	}
	if !opts.DryRun {
		if rep.Extract, err = e.cleanupExtracts(ctx); err != nil {
			return rep, err
		}
		if rep.Ingests, err = e.Content.CleanIngests(ctx, staleIngest); err != nil {
			return rep, err
		}
		if rep.PushSessions, err = e.pushSessions().Prune(stalePushSession); err != nil {
			return rep, err
		}
	}
	r, err := gc.Sweep(ctx, e.Content, e.Snap, roots, gc.Options{DryRun: opts.DryRun, Snapshots: true})
	rep.Report = r
	if err != nil {
		return rep, err
	}
	if e.pool != nil {
		// After the snapshots: their removal is what drops an entry's
		// link count to the pool's own.
		pr, err := e.pool.Prune(ctx, opts.DryRun)
		rep.PoolFiles, rep.PoolBytes = pr.Files, pr.Bytes
		if err != nil {
			return rep, err
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	// Blobs the blob cache evicted are not missing: their layers are
	// rebuilt from the snapshots and indexes kept above. Trim the cache to
	// the budget in force (a smaller --blob-cache-size than before trims
	// it), and forget the uses of blobs swept.
	p := e.layers()
	if rep.Cache, err = p.Trim(ctx, e.BlobCacheBudget()); err != nil {
		return rep, fmt.Errorf("blob cache: %w", err)
	}
	if err := p.ForgetGone(ctx); err != nil {
		return rep, fmt.Errorf("blob cache: %w", err)
	}
	rep.Layers, err = gc.ForgetLayers(ctx, e.DB, roots)
	return rep, err
}

// roots marks everything reachable from image names and the roots every
// other owner registered in Open.
func (e *Engine) roots(ctx context.Context) (gc.Roots, error) {
	return gc.Mark(ctx, e.Content, e.DB, func(ctx context.Context, target ocispec.Descriptor) ([]digest.Digest, error) {
		img, err := e.Images.Load(ctx, target)
		return img.DiffIDs(), err
	}, e.rootSources...)
}

// PruneImages removes untagged images (all images without a container
// with all) that pass f (until=, label=, label!=, docker's image prune
// filters), then collects garbage.
func (e *Engine) PruneImages(ctx context.Context, all bool, f Filters) ([]digest.Digest, GCReport, error) {
	list, err := e.Images.PruneSelect(ctx, all, filters.Filters(f))
	if err != nil {
		return nil, GCReport{}, err
	}
	var deleted []digest.Digest
	for _, img := range list {
		if users, err := e.ContainerUsers(ctx, img.ID()); err != nil {
			return nil, GCReport{}, err
		} else if len(users) > 0 {
			continue
		}
		if _, err := e.Images.Untag(ctx, img.Names); err != nil {
			return nil, GCReport{}, err
		}
		deleted = append(deleted, img.ID())
	}
	rep, err := e.GC(ctx, GCOptions{})
	if err != nil {
		return deleted, rep, fmt.Errorf("prune: %w", err)
	}
	return deleted, rep, nil
}
