package images

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// Config reads the config blob d (an image's ID), whether or not a name
// still points at it.
func (s *Store) Config(ctx context.Context, d digest.Digest) (ocispec.Image, error) {
	info, err := s.Content.Info(ctx, d)
	if err != nil {
		return ocispec.Image{}, err
	}
	b, err := s.Content.ReadAll(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: d, Size: info.Size}, manifest.MaxSize)
	if err != nil {
		return ocispec.Image{}, err
	}
	return manifest.DecodeConfig(b)
}

// ByID returns the config and layer descriptors of the image whose ID is
// id: from the image if a name still resolves to it, else from its config
// blob and the layer records (an image that lost its names but that a
// container still uses).
func (s *Store) ByID(ctx context.Context, id string) (ocispec.Image, []ocispec.Descriptor, error) {
	if img, err := s.Resolve(ctx, id); err == nil && img.ID().String() == id {
		return img.Config, img.Manifest.Layers, nil
	}
	d, err := digest.Parse(id)
	if err != nil {
		return ocispec.Image{}, nil, fmt.Errorf("image %s: %w", id, err)
	}
	cfg, err := s.Config(ctx, d)
	if err != nil {
		return ocispec.Image{}, nil, fmt.Errorf("image %s: %w", id, err)
	}
	var layers []ocispec.Descriptor
	err = s.DB.View(ctx, func(tx *metadata.Tx) error {
		for _, diffID := range cfg.RootFS.DiffIDs {
			l, err := tx.Layer(diffID)
			if err != nil {
				return fmt.Errorf("layer %s: %w", diffID, err)
			}
			if len(l.Blobs) == 0 {
				return fmt.Errorf("layer %s has no blob: %w", diffID, errdefs.ErrNotFound)
			}
			layers = append(layers, l.Blobs[0])
		}
		return nil
	})
	return cfg, layers, err
}

// Keeps is what image id (its config digest) keeps from gc even when no
// name points at it any more, as a container's image does: its config
// blob, its layers' snapshots (chain IDs) and the blobs recorded for
// them. A config that cannot be read keeps only itself.
func (s *Store) Keeps(ctx context.Context, id string) (blobs, chainIDs []digest.Digest) {
	d, err := digest.Parse(id)
	if err != nil {
		return nil, nil
	}
	blobs = append(blobs, d)
	cfg, err := s.Config(ctx, d)
	if err != nil {
		return blobs, nil
	}
	_ = s.DB.View(ctx, func(tx *metadata.Tx) error {
		for _, diffID := range cfg.RootFS.DiffIDs {
			if l, err := tx.Layer(diffID); err == nil {
				for _, b := range l.Blobs {
					blobs = append(blobs, b.Digest)
				}
			}
		}
		return nil
	})
	return blobs, manifest.ChainIDs(cfg.RootFS.DiffIDs)
}
