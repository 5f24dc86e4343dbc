package gc

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// Source gives roots that an owner other than the image records holds
// (containers, the build cache): the engine registers one per owner.
type Source = func(ctx context.Context) (Roots, error)

// LoadDiffIDs reads the layers (diffIDs, bottom first) of the image whose
// manifest is target; the image store's Load, handed in so that gc need
// not import images.
type LoadDiffIDs func(ctx context.Context, target ocispec.Descriptor) ([]digest.Digest, error)

// Mark gathers what must stay: everything reachable from the image records
// in db (their manifests, indexes, configs, layer blobs, snapshots and
// layer records), the roots of sources, and the layer records (and their
// tar-split indexes) whose snapshot or one of whose blobs stays.
func Mark(ctx context.Context, cs *content.Store, db *metadata.DB, load LoadDiffIDs, sources ...Source) (Roots, error) {
	roots := Roots{Blobs: map[digest.Digest]bool{}, Snapshots: map[string]bool{}, Layers: map[digest.Digest]bool{}}
	var recs []metadata.Image
	var layers []metadata.Layer
	if err := db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		if recs, err = tx.Images(); err != nil {
			return err
		}
		layers, err = tx.Layers()
		return err
	}); err != nil {
		return roots, err
	}
	for _, r := range recs {
		markTarget(ctx, cs, load, r.Target, roots)
	}
	for _, src := range sources {
		extra, err := src(ctx)
		if err != nil {
			return roots, err
		}
		roots.Merge(extra)
	}
	// A layer record stays while its snapshot or one of its blobs does; its
	// tar-split index stays with it.
	for _, l := range layers {
		keep := roots.Layers[l.DiffID] || roots.Snapshots[l.ChainID.String()]
		for _, b := range l.Blobs {
			keep = keep || roots.Blobs[b.Digest]
		}
		if keep {
			roots.Layers[l.DiffID] = true
			if l.Index != nil {
				roots.Blobs[l.Index.Digest] = true
			}
		}
	}
	return roots, nil
}

// markTarget marks a manifest or index, what it lists and, for an image
// manifest, its layers' snapshots and records. A damaged image keeps
// nothing but what can be read; fsck reports it.
func markTarget(ctx context.Context, cs *content.Store, load LoadDiffIDs, target ocispec.Descriptor, roots Roots) {
	roots.Blobs[target.Digest] = true
	b, err := cs.ReadAll(ctx, target, manifest.MaxSize)
	if err != nil {
		return
	}
	children, err := manifest.Children(target.MediaType, b)
	if err != nil {
		return
	}
	for _, c := range children {
		roots.Blobs[c.Digest] = true
		if manifest.IsManifest(c.MediaType) || manifest.IsIndex(c.MediaType) {
			markTarget(ctx, cs, load, c, roots)
		}
	}
	if manifest.IsManifest(target.MediaType) {
		diffIDs, err := load(ctx, target)
		if err != nil {
			return
		}
		for _, c := range manifest.ChainIDs(diffIDs) {
			roots.Snapshots[c.String()] = true
		}
		for _, d := range diffIDs {
			roots.Layers[d] = true
		}
	}
}

// ForgetLayers deletes the layer records roots does not keep and returns
// how many went.
func ForgetLayers(ctx context.Context, db *metadata.DB, roots Roots) (int, error) {
	n := 0
	err := db.Update(ctx, func(tx *metadata.Tx) error {
		ls, err := tx.Layers()
		if err != nil {
			return err
		}
		for _, l := range ls {
			if !roots.Layers[l.DiffID] {
				if err := tx.DeleteLayer(l.DiffID); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}
