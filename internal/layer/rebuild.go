package layer

import (
	"context"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
)

// viewer is a snapshotter that can mount a committed snapshot read-only.
type viewer interface {
	View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error)
}

// Rebuild makes a compressed blob of layer rec again from its snapshot and
// tar-split index, in one pass (RebuildTar → Create: pgzip on all cores
// for gzip), checks that the tar has the layer's diffID, and records the
// new blob for the layer. It is what a push does for a layer whose blob is
// gone (a build's, or one evicted).
func (p *Pipeline) Rebuild(ctx context.Context, rec metadata.Layer, comp archive.Compression) (ocispec.Descriptor, error) {
	if rec.Index == nil {
		return ocispec.Descriptor{}, fmt.Errorf("its blob is gone and it has no tar-split index to rebuild it from: %w", errdefs.ErrNotFound)
	}
	v, ok := p.Snap.(viewer)
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("rebuild: the snapshotter cannot view snapshots: %w", errdefs.ErrNotImplemented)
	}
	key := ExtractKey() + "-rebuild"
	mounts, err := v.View(ctx, key, rec.ChainID.String())
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("view snapshot %s: %w", rec.ChainID, err)
	}
	defer p.Snap.Remove(context.WithoutCancel(ctx), key)
	var created Created
	err = WithMounted(ctx, mounts, func(root string) error {
		var err error
		created, err = Create(ctx, p.Content, comp, func(w io.Writer) error {
			return RebuildTar(ctx, p.Content, *rec.Index, root, w)
		})
		return err
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("rebuild: %w", err)
	}
	if created.DiffID != rec.DiffID {
		return ocispec.Descriptor{}, fmt.Errorf("rebuilt tar has diffID %s, want %s (the snapshot changed): %w", created.DiffID, rec.DiffID, errdefs.ErrDataCorrupt)
	}
	// The new blob is a blob cache entry like any other: the caller trims
	// the cache once it has used it.
	err = p.DB.Update(ctx, func(tx *metadata.Tx) error {
		if err := tx.PutLayer(metadata.Layer{DiffID: rec.DiffID, ChainID: rec.ChainID, Blobs: []ocispec.Descriptor{created.Desc}}); err != nil {
			return err
		}
		return tx.TouchBlob(created.Desc.Digest, time.Now())
	})
	return created.Desc, err
}
