package build

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
)

// squash replaces the layers the build added above the base image with one
// layer holding their combined change. The per-step layers stay in the
// cache; their history rows stay too, marked empty, followed by one row
// for the squashed layer.
func (b *builder) squash(ctx context.Context, s *state, res Result) (Result, error) {
	log := b.p.step(fmt.Sprintf("squash %d layers", len(s.layers)-s.baseN))
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
		return res, fmt.Errorf("squash: %w", err)
	}
	// Unpack it so the squashed image can run: its snapshot is new.
	rc, err := b.be.Content.Reader(ctx, created.Desc)
	if err != nil {
		return res, err
	}
	defer rc.Close()
	tr, _, err := archive.Decompress(rc)
	if err != nil {
		return res, err
	}
	defer tr.Close()
	u, err := layer.Unpack(ctx, b.be.Snap, s.baseChain, tr, layer.UnpackOptions{Expect: created.DiffID})
	if err != nil {
		return res, fmt.Errorf("squash: unpack: %w", err)
	}
	if err := b.be.DB.Update(ctx, func(tx *metadata.Tx) error {
		return tx.PutLayer(metadata.Layer{DiffID: u.DiffID, ChainID: u.ChainID, Size: u.Size, Blobs: []ocispec.Descriptor{created.Desc}})
	}); err != nil {
		return res, err
	}
	img := res.Image.clone()
	img.RootFS.DiffIDs = append(append([]digest.Digest{}, img.RootFS.DiffIDs[:s.baseN]...), created.DiffID)
	for i := s.baseHist; i < len(img.History); i++ {
		img.History[i].EmptyLayer = true
	}
	at := *img.Created
	if at.IsZero() {
		at = time.Now().UTC()
	}
	img.History = append(img.History, ocispec.History{Created: &at, CreatedBy: fmt.Sprintf("squash of %d layers", len(s.layers)-s.baseN), Comment: CacheComment})
	res.Image = img
	res.Layers = append(append([]ocispec.Descriptor{}, res.Layers[:s.baseN]...), created.Desc)
	log.done()
	return res, nil
}
