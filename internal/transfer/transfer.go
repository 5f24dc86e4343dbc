package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/remote"
)

// Store is what transfers move images into and out of: the engine's
// content store, database, image records and layer pipeline, with the
// engine's gc lock and event journal as hooks.
type Store struct {
	Content *content.Store
	DB      *metadata.DB
	Images  *images.Store
	Layers  *layer.Pipeline
	// TmpDir holds the temp copies of archives a load reads out of order.
	TmpDir string

	// Lock takes the store's gc lock shared, so that nothing a transfer
	// writes is swept before it is named; nil takes none.
	Lock func(ctx context.Context) (unlock func(), err error)
	// Event records an image event ("pull", "push", "load", "save",
	// "import") of image id with name; nil records none.
	Event func(action, id, name string)
	// StoreErr adds what to do to an error of the store's disk (full,
	// read-only, not writable); nil leaves errors as they are.
	StoreErr func(error) error
}

func (s *Store) lock(ctx context.Context) (func(), error) {
	if s.Lock == nil {
		return func() {}, nil
	}
	return s.Lock(ctx)
}

func (s *Store) event(action, id, name string) {
	if s.Event != nil {
		s.Event(action, id, name)
	}
}

// putSmall stores a small blob already in memory (a manifest, a config),
// checking it, and notes it in u (when given) unless it was there.
func (s *Store) putSmall(ctx context.Context, desc ocispec.Descriptor, b []byte, u *layer.Undo) error {
	if u != nil {
		if _, err := s.Content.Info(ctx, desc.Digest); err == nil {
			return nil
		}
	}
	if _, _, err := s.Content.WriteBlob(ctx, bytes.NewReader(b), desc.Size, desc.Digest); err != nil {
		return err
	}
	if u != nil {
		u.AddBlob(desc.Digest)
	}
	return nil
}

// withLayers rewrites manifest mb (of desc) to name layers instead of its
// own, keeping every other field as it was, and stores the result (gc
// removes it once no image names it). A Docker schema2 manifest names the
// layers with Docker's media types.
func (s *Store) withLayers(ctx context.Context, desc ocispec.Descriptor, mb []byte, layers []ocispec.Descriptor) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	ls := make([]ocispec.Descriptor, len(layers))
	for i, d := range layers {
		ls[i] = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
		if desc.MediaType == manifest.DockerManifest {
			ls[i].MediaType = manifest.DockerLayerType(d.MediaType)
		}
	}
	m["layers"] = images.MustJSON(ls)
	out := images.MustJSON(m)
	if _, _, err := s.Content.WriteBlob(ctx, bytes.NewReader(out), int64(len(out)), digest.FromBytes(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// trimCache trims the blob cache to its budget: blobs a push or save
// rebuilt are cache entries.
func (s *Store) trimCache(ctx context.Context) error {
	if s.Layers.BlobCache == nil {
		return nil
	}
	_, err := s.Layers.Trim(ctx, s.Layers.BlobCache.Budget)
	return err
}

// clientOr is c, or remote.New() (docker's credentials and
// insecure-registries) when c is nil.
func clientOr(c *remote.Client) *remote.Client {
	if c == nil {
		return remote.New()
	}
	return c
}
