package engine

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OpenLayer reads layer blob desc of a local image, verified: from the
// store, or rebuilt from its snapshot when a build did not store it or the
// blob cache evicted it (layer.Pipeline.Reader).
func (e *Engine) OpenLayer(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return e.layers().Reader(ctx, desc)
}
