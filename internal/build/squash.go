package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// squash replaces the layers the build added above the base image with one
// layer holding their combined change. The per-step layers stay in the
// cache; their history rows stay too, marked empty, followed by one row
// for the squashed layer.
func (b *builder) squash(ctx context.Context, s *state, res Result) (Result, error) {
	log := b.p.step(-1, fmt.Sprintf("squash %d layers", len(s.layers)-s.baseN))
	var desc ocispec.Descriptor
	var diffID digest.Digest
	var err error
	if b.opts.StoreBlobs {
		desc, diffID, err = b.squashStored(ctx, s)
	} else {
		desc, diffID, err = b.squashIndexed(ctx, s)
	}
	if err != nil {
		return res, fmt.Errorf("squash: %w", err)
	}
	img := res.Image.clone()
	img.RootFS.DiffIDs = append(append([]digest.Digest{}, img.RootFS.DiffIDs[:s.baseN]...), diffID)
	for i := s.baseHist; i < len(img.History); i++ {
		img.History[i].EmptyLayer = true
	}
	at := *img.Created
	if at.IsZero() {
		at = time.Now().UTC()
	}
	img.History = append(img.History, ocispec.History{Created: &at, CreatedBy: fmt.Sprintf("squash of %d layers", len(s.layers)-s.baseN), Comment: CacheComment})
	res.Image = img
	res.Layers = append(append([]ocispec.Descriptor{}, res.Layers[:s.baseN]...), desc)
	log.done()
	return res, nil
}

// squashStored compresses the combined change into the store, then
// unpacks it so the squashed image can run (its snapshot is new).
func (b *builder) squashStored(ctx context.Context, s *state) (ocispec.Descriptor, digest.Digest, error) {
	var created layer.Created
	err := b.withView(ctx, s.baseChain, func(lower string) error {
		return b.withView(ctx, s.chainID, func(upper string) error {
			var err error
			created, err = layer.Create(ctx, b.be.Content, b.opts.Compression, func(w io.Writer) error {
				return archive.WriteDiff(ctx, w, lower, upper, b.writeOptions())
			})
			return err
		})
	})
	if err != nil {
		return created.Desc, "", err
	}
	rc, err := b.be.Content.Reader(ctx, created.Desc)
	if err != nil {
		return created.Desc, "", err
	}
	defer rc.Close()
	tr, _, err := archive.Decompress(rc)
	if err != nil {
		return created.Desc, "", err
	}
	defer tr.Close()
	u, err := layer.Unpack(ctx, b.be.Snap, s.baseChain, tr, layer.UnpackOptions{Expect: created.DiffID})
	if err != nil {
		return created.Desc, "", fmt.Errorf("unpack: %w", err)
	}
	err = b.be.DB.Update(ctx, func(tx *metadata.Tx) error {
		return tx.PutLayer(metadata.Layer{DiffID: u.DiffID, ChainID: u.ChainID, Size: u.Size, Blobs: []ocispec.Descriptor{created.Desc}})
	})
	return created.Desc, created.DiffID, err
}

// squashIndexed unpacks the combined change straight into its snapshot as
// it is written, keeping the tar-split index Apply records and no blob (see
// Options.StoreBlobs).
func (b *builder) squashIndexed(ctx context.Context, s *state) (ocispec.Descriptor, digest.Digest, error) {
	iw, err := b.be.Content.Writer(ctx, content.WriterOptions{})
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer iw.Close()
	izw, err := layer.CompressIndex(iw)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	// The writer ends when the diff is written, or when its next write
	// fails because Unpack stopped reading and the pipe was closed.
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := b.withView(ctx, s.baseChain, func(lower string) error {
			return b.withView(ctx, s.chainID, func(upper string) error {
				return archive.WriteDiff(ctx, pw, lower, upper, b.writeOptions())
			})
		})
		pw.CloseWithError(err)
		written <- err
	}()
	u, err := layer.Unpack(ctx, b.be.Snap, s.baseChain, pr, layer.UnpackOptions{Index: izw})
	pr.CloseWithError(errors.New("squash: unpack stopped"))
	if werr := <-written; err == nil {
		err = werr
	}
	if cerr := izw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("compress index: %w", cerr)
	}
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	idx := ocispec.Descriptor{MediaType: layer.MediaTypeIndex, Digest: iw.Digest(), Size: iw.Offset()}
	if err := iw.Commit(ctx, idx.Size, idx.Digest); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return ocispec.Descriptor{}, "", err
	}
	desc := ocispec.Descriptor{MediaType: manifest.LayerMediaType(""), Digest: u.DiffID, Size: u.Size}
	err = b.be.DB.Update(ctx, func(tx *metadata.Tx) error {
		return tx.PutLayer(metadata.Layer{DiffID: u.DiffID, ChainID: u.ChainID, Size: u.Size, Blobs: []ocispec.Descriptor{desc}, Index: &idx})
	})
	return desc, u.DiffID, err
}
