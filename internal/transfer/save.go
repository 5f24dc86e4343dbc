package transfer

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/imagearchive"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
)

// Save writes the images refs name (names or IDs) to w as one tar that is
// both a docker save archive and an OCI image layout (see imagearchive).
// An image given by name is saved with that name; one given by ID with no
// name, as docker does. Blobs are copied from the store as they are
// verified; a layer a build kept only as a snapshot is written from it,
// and one whose blob the blob cache evicted is rebuilt (savedLayers).
// The gc lock is held throughout so nothing is swept meanwhile.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: give at least one image: %w", errdefs.ErrInvalidArgument)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var out []imagearchive.SaveImage
	byManifest := map[digest.Digest]int{}
	for _, ref := range refs {
		img, err := s.Images.Resolve(ctx, ref)
		if err != nil {
			return fmt.Errorf("save %s: %w", ref, err)
		}
		var names []string
		if named, err := images.ParseName(ref); err == nil {
			for _, n := range img.Names {
				if n == named.String() {
					names = append(names, n)
				}
			}
		}
		mdesc, layers, err := s.savedLayers(ctx, img)
		if err != nil {
			return fmt.Errorf("save %s: %w", ref, err)
		}
		if i, ok := byManifest[img.ManifestDesc.Digest]; ok {
			for _, n := range names {
				if !slices.Contains(out[i].Names, n) {
					out[i].Names = append(out[i].Names, n)
				}
			}
			continue
		}
		byManifest[img.ManifestDesc.Digest] = len(out)
		out = append(out, imagearchive.SaveImage{Names: names, Manifest: mdesc, Config: img.ConfigDesc, Layers: layers})
	}
	if err := imagearchive.Write(ctx, w, s.Layers, out); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	// The blobs rebuilt are blob cache entries: trim it to its budget.
	if err := s.trimCache(ctx); err != nil {
		return fmt.Errorf("save: blob cache: %w", err)
	}
	for _, ref := range refs {
		s.event("save", ref, ref)
	}
	return nil
}

// savedLayers returns the manifest and layers an image is saved with: its
// own when every layer blob is in the store. A layer whose blob the blob
// cache evicted is rebuilt from its snapshot and tar-split index,
// compressed as it was (layer.Rebuild): a layer Strata compressed itself
// (import, commit, load of an uncompressed archive) comes out
// byte-identical and the image keeps its manifest; another (a registry's
// gzip) gets a new digest, and the image is saved with a manifest naming
// it, which loads as the same image (same config, same diffIDs) under a
// new manifest digest, as a docker save of a pulled image does.
func (s *Store) savedLayers(ctx context.Context, img images.Image) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	layers := slices.Clone(img.Manifest.Layers)
	diffIDs, chains := img.DiffIDs(), img.ChainIDs()
	changed := false
	for i, l := range layers {
		if err := s.Layers.Available(ctx, l, diffIDs[i], chains[i]); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if _, err := s.Content.Info(ctx, l.Digest); err == nil {
			_ = s.Layers.Touch(ctx, l.Digest)
			continue
		}
		if layer.Unstored(l, diffIDs[i]) {
			continue // a build's layer: written from its snapshot as it is saved
		}
		comp, err := layer.CompressionOf(l.MediaType)
		if err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		rec, _ := layer.Record(ctx, s.DB, diffIDs[i])
		rec.DiffID, rec.ChainID = diffIDs[i], chains[i]
		d, err := s.Layers.Rebuild(ctx, rec, comp)
		if err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if d.Digest != l.Digest {
			layers[i] = d
			changed = true
		}
	}
	if !changed {
		return img.ManifestDesc, layers, nil
	}
	mb, err := s.Content.ReadAll(ctx, img.ManifestDesc, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if mb, err = s.withLayers(ctx, img.ManifestDesc, mb, layers); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if img.ManifestDesc.MediaType == manifest.DockerManifest {
		for i := range layers {
			layers[i].MediaType = manifest.DockerLayerType(layers[i].MediaType)
		}
	}
	desc := ocispec.Descriptor{MediaType: img.ManifestDesc.MediaType, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	return desc, layers, nil
}
