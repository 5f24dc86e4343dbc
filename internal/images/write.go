package images

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Write stores config img and an OCI manifest over layers, returning the
// manifest's descriptor and the image ID. img is an ocispec.Image, or a
// type that marshals as one with docker's extra fields (build.Image). The
// layers must already be in the store.
func (s *Store) Write(ctx context.Context, img any, layers []ocispec.Descriptor) (ocispec.Descriptor, digest.Digest, error) {
	cfgDesc, err := s.PutJSON(ctx, ocispec.MediaTypeImageConfig, img)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    layers,
	}
	target, err := s.PutJSON(ctx, ocispec.MediaTypeImageManifest, m)
	return target, cfgDesc.Digest, err
}

// PutJSON stores v as a blob and returns its descriptor.
func (s *Store) PutJSON(ctx context.Context, mediaType string, v any) (ocispec.Descriptor, error) {
	b := MustJSON(v)
	dgst, n, err := s.Content.WriteBlob(ctx, strings.NewReader(string(b)), int64(len(b)), digest.FromBytes(b))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: n}, nil
}

// MustJSON encodes a manifest, config or index Strata made (the types
// encode without error).
func MustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
