package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
)

// CommitOptions describe a commit: one new layer, written as a plain tar
// (a container's changes), on top of a parent image whose layers are
// shared, not copied.
type CommitOptions struct {
	Ref string // REPO[:TAG]; empty leaves the image untagged
	// Name is what is committed, as errors name it ("commit NAME: …").
	Name string
	// Parent is the parent image's config, ParentLayers its layers'
	// descriptors and ParentChainID its top snapshot.
	Parent        ocispec.Image
	ParentLayers  []ocispec.Descriptor
	ParentChainID digest.Digest
	// Config is the new image's config.
	Config ocispec.ImageConfig
	// Layer writes the new layer's tar to w.
	Layer func(w io.Writer) error
	// CreatedBy, Message and Author fill the new history row (and Author
	// the image's).
	CreatedBy, Message, Author string
	Compression                string // gzip (default), zstd, none
}

// Commit makes an image of the parent's layers and one new layer and
// returns its ID.
func (s *Store) Commit(ctx context.Context, opts CommitOptions) (digest.Digest, error) {
	named, comp, err := parseTarget(opts.Ref, opts.Compression)
	if err != nil {
		return "", err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		// Ends when the layer is written (EOF for the reader), on an error
		// (passed to the reader), or when the reader is closed below.
		err := opts.Layer(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	lay, err := s.Layers.ApplyTar(ctx, opts.ParentChainID, pr, comp)
	pr.CloseWithError(errors.New("commit: layer reader closed"))
	if werr := <-done; err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", opts.Name, err)
	}

	now := time.Now().UTC()
	parent := opts.Parent
	img := parent
	img.Created = &now
	img.Author = opts.Author
	img.Config = opts.Config
	img.RootFS.Type = "layers"
	img.RootFS.DiffIDs = append(append([]digest.Digest{}, parent.RootFS.DiffIDs...), lay.DiffID)
	img.History = append(append([]ocispec.History{}, parent.History...), ocispec.History{
		Created: &now, CreatedBy: opts.CreatedBy, Comment: opts.Message, Author: opts.Author,
	})
	layers := append(append([]ocispec.Descriptor{}, opts.ParentLayers...), lay.Desc)
	target, id, err := s.Images.Write(ctx, img, layers)
	if err != nil {
		return "", err
	}
	if err := s.Images.Name(ctx, named, target); err != nil {
		return "", err
	}
	return id, nil
}

// parseTarget reads an import's or a commit's REPO[:TAG] (named, or "" to
// leave the image untagged) and its layer's compression.
func parseTarget(ref, compression string) (named string, comp archive.Compression, err error) {
	if ref != "" {
		tagged, err := images.ParseTagged(ref)
		if err != nil {
			return "", comp, err
		}
		named = tagged.String()
	}
	comp, err = layer.ParseCompression(compression)
	return named, comp, err
}
