package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
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
	roots, keepLayers, err := e.roots(ctx)
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
	err = e.DB.Update(ctx, func(tx *metadata.Tx) error {
		ls, err := tx.Layers()
		if err != nil {
			return err
		}
		for _, l := range ls {
			if !keepLayers[l.DiffID] {
				if err := tx.DeleteLayer(l.DiffID); err != nil {
					return err
				}
				rep.Layers++
			}
		}
		return nil
	})
	return rep, err
}

// roots marks everything reachable from image names and the extra roots.
func (e *Engine) roots(ctx context.Context) (gc.Roots, map[digest.Digest]bool, error) {
	roots := gc.Roots{Blobs: map[digest.Digest]bool{}, Snapshots: map[string]bool{}}
	keepLayers := map[digest.Digest]bool{}
	var recs []metadata.Image
	var layers []metadata.Layer
	if err := e.DB.View(ctx, func(tx *metadata.Tx) error {
		var err error
		if recs, err = tx.Images(); err != nil {
			return err
		}
		layers, err = tx.Layers()
		return err
	}); err != nil {
		return roots, nil, err
	}
	for _, r := range recs {
		if err := e.markTarget(ctx, r, roots, keepLayers); err != nil {
			return roots, nil, err
		}
	}
	for _, src := range e.rootSources {
		extra, err := src(ctx)
		if err != nil {
			return roots, nil, err
		}
		roots.Merge(extra)
	}
	// A layer record stays while its snapshot or one of its blobs does; its
	// tar-split index stays with it.
	for _, l := range layers {
		keep := keepLayers[l.DiffID] || roots.Snapshots[l.ChainID.String()]
		for _, b := range l.Blobs {
			keep = keep || roots.Blobs[b.Digest]
		}
		if keep {
			keepLayers[l.DiffID] = true
			if l.Index != nil {
				roots.Blobs[l.Index.Digest] = true
			}
		}
	}
	return roots, keepLayers, nil
}

func (e *Engine) markTarget(ctx context.Context, r metadata.Image, roots gc.Roots, keepLayers map[digest.Digest]bool) error {
	roots.Blobs[r.Target.Digest] = true
	b, err := e.Content.ReadAll(ctx, r.Target, manifest.MaxSize)
	if err != nil {
		// A damaged image keeps nothing but its manifest; fsck reports it.
		return nil
	}
	children, err := manifest.Children(r.Target.MediaType, b)
	if err != nil {
		return nil
	}
	for _, c := range children {
		roots.Blobs[c.Digest] = true
		if manifest.IsManifest(c.MediaType) || manifest.IsIndex(c.MediaType) {
			if err := e.markTarget(ctx, metadata.Image{Name: r.Name, Target: c}, roots, keepLayers); err != nil {
				return err
			}
		}
	}
	if manifest.IsManifest(r.Target.MediaType) {
		img, err := e.Images.Load(ctx, r.Target)
		if err != nil {
			return nil
		}
		markImage(img, roots, keepLayers)
	}
	return nil
}

func markImage(img images.Image, roots gc.Roots, keepLayers map[digest.Digest]bool) {
	for _, c := range img.ChainIDs() {
		roots.Snapshots[c.String()] = true
	}
	for _, d := range img.DiffIDs() {
		keepLayers[d] = true
	}
}

// PruneImages removes untagged images (all images without a container
// with all) that pass f (until=, label=, label!=, docker's image prune
// filters), then collects garbage.
func (e *Engine) PruneImages(ctx context.Context, all bool, f Filters) ([]digest.Digest, GCReport, error) {
	if err := f.check("image prune", "until", "label", "label!", "dangling"); err != nil {
		return nil, GCReport{}, err
	}
	for _, v := range f["dangling"] {
		all = all || !boolFilter[strings.ToLower(v)]
	}
	until, _ := f.until(time.Now())
	var deleted []digest.Digest
	list, err := e.Images.List(ctx)
	if err != nil {
		return nil, GCReport{}, err
	}
	for _, img := range list {
		dangling := true
		for _, n := range img.Names {
			if len(n) < len(untaggedPrefix) || n[:len(untaggedPrefix)] != untaggedPrefix {
				dangling = false
			}
		}
		if !dangling && !all || !f.labels(img.Config.Config.Labels) {
			continue
		}
		if !until.IsZero() && (img.Config.Created == nil || !img.Config.Created.Before(until)) {
			continue
		}
		if users, err := e.ContainerUsers(ctx, img.ID()); err != nil {
			return nil, GCReport{}, err
		} else if len(users) > 0 {
			continue
		}
		if err := e.DB.Update(ctx, func(tx *metadata.Tx) error {
			for _, n := range img.Names {
				_ = tx.DeleteImage(n)
			}
			return nil
		}); err != nil {
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
