package layer

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
)

// BlobCache makes the compressed blobs of committed layers a cache with a
// size budget. A layer's permanent copy is its snapshot; with its
// tar-split index the exact tar, and so a blob, can be made again
// (Rebuild, RebuildTar), so its compressed blob is kept only while it fits
// in Budget bytes, the least recently used going first. Manifests, configs,
// indexes and the blobs of layers that cannot be rebuilt (no index, no
// committed snapshot) are never cache entries.
type BlobCache struct {
	// Budget is the bytes of layer blobs kept; 0 keeps none.
	Budget int64
}

// CachedBlob is a layer blob in the cache: in the store, and rebuildable.
type CachedBlob struct {
	Desc     ocispec.Descriptor
	DiffID   digest.Digest
	ChainID  digest.Digest
	LastUsed time.Time // when it was last written, pushed or saved
}

// Trimmed says what a trim evicted.
type Trimmed struct {
	Blobs []digest.Digest
	Bytes int64
}

// CachedBlobs lists the layer blobs of the cache, least recently used
// first. A blob with no recorded use (a store older than the cache) counts
// as used when it was written.
func (p *Pipeline) CachedBlobs(ctx context.Context) ([]CachedBlob, error) {
	var layers []metadata.Layer
	var uses map[digest.Digest]time.Time
	if err := p.DB.View(ctx, func(tx *metadata.Tx) error {
		var err error
		if layers, err = tx.Layers(); err != nil {
			return err
		}
		uses, err = tx.BlobUses()
		return err
	}); err != nil {
		return nil, err
	}
	var out []CachedBlob
	for _, l := range layers {
		if l.Index == nil || l.ChainID == "" {
			continue
		}
		if _, err := p.Content.Info(ctx, l.Index.Digest); err != nil {
			continue
		}
		if _, err := p.Snap.Stat(ctx, l.ChainID.String()); err != nil {
			continue
		}
		for _, b := range l.Blobs {
			if b.Digest == l.DiffID && Unstored(b, l.DiffID) {
				continue // a build's layer names its tar, never stored
			}
			info, err := p.Content.Info(ctx, b.Digest)
			if err != nil {
				continue
			}
			at, ok := uses[b.Digest]
			if !ok {
				at = info.ModTime
			}
			d := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: info.Size}
			out = append(out, CachedBlob{Desc: d, DiffID: l.DiffID, ChainID: l.ChainID, LastUsed: at})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastUsed.Before(out[j].LastUsed) })
	return out, nil
}

// Touch records that the blobs dgsts were used now, so that they are
// evicted after those used before.
func (p *Pipeline) Touch(ctx context.Context, dgsts ...digest.Digest) error {
	if len(dgsts) == 0 {
		return nil
	}
	now := time.Now()
	return p.DB.Update(ctx, func(tx *metadata.Tx) error {
		for _, d := range dgsts {
			if err := tx.TouchBlob(d, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// Trim evicts the least recently used blobs of the cache until the rest
// fit in budget bytes. The layer records keep the evicted blobs'
// descriptors (and the registries known to hold them), so a push can
// still skip or mount them and a rebuild can be checked against them.
// A blob another process has open stays readable until it closes it.
func (p *Pipeline) Trim(ctx context.Context, budget int64) (Trimmed, error) {
	var t Trimmed
	blobs, err := p.CachedBlobs(ctx)
	if err != nil {
		return t, err
	}
	var total int64
	for _, b := range blobs {
		total += b.Desc.Size
	}
	var gone []digest.Digest
	for _, b := range blobs {
		if total <= budget {
			break
		}
		if err := p.Content.Delete(ctx, b.Desc.Digest); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return t, err
		}
		total -= b.Desc.Size
		t.Bytes += b.Desc.Size
		gone = append(gone, b.Desc.Digest)
	}
	t.Blobs = gone
	if len(gone) == 0 {
		return t, nil
	}
	err = p.DB.Update(ctx, func(tx *metadata.Tx) error {
		for _, d := range gone {
			if err := tx.ForgetBlobUse(d); err != nil {
				return err
			}
		}
		return nil
	})
	return t, err
}

// ForgetGone drops the recorded uses of blobs no longer in the store (gc
// removed them).
func (p *Pipeline) ForgetGone(ctx context.Context) error {
	var uses map[digest.Digest]time.Time
	if err := p.DB.View(ctx, func(tx *metadata.Tx) error {
		var err error
		uses, err = tx.BlobUses()
		return err
	}); err != nil {
		return err
	}
	var gone []digest.Digest
	for d := range uses {
		if _, err := p.Content.Info(ctx, d); errdefs.IsNotFound(err) {
			gone = append(gone, d)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return p.DB.Update(ctx, func(tx *metadata.Tx) error {
		for _, d := range gone {
			if err := tx.ForgetBlobUse(d); err != nil {
				return err
			}
		}
		return nil
	})
}

// cache puts the blob of a layer just committed into the cache and trims
// it to the budget (nothing without a BlobCache).
func (p *Pipeline) cache(ctx context.Context, desc ocispec.Descriptor) error {
	if p.BlobCache == nil || desc.Digest == "" {
		return nil
	}
	if err := p.Touch(ctx, desc.Digest); err != nil {
		return err
	}
	_, err := p.Trim(ctx, p.BlobCache.Budget)
	return err
}
