package build

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
)

// COPY --link and ADD --link, as BuildKit's Dockerfile frontend (1.4+)
// makes them: the step's files are copied onto an empty tree, that tree's
// diff is the step's layer, and the layer is then stacked on the stage's
// layers (BuildKit's merge). The layer thus depends on the sources alone:
// its cache key leaves out the parent key, so a changed earlier step or
// base image finds the same record and reuses its layer (same diffID)
// instead of copying again. Only the stacked snapshot is new then; it is
// made by unpacking the layer's tar (rebuilt from the snapshot the step
// made and its tar-split index) over the new parent. The step's own
// snapshot is given the mtimes that tar records (whole seconds, clamped
// to SOURCE_DATE_EPOCH; the copy writes them, SetTarTimes sets the rest),
// so it and every stacked copy hold the same files, which the file pool
// then stores once.
//
// As in BuildKit, destination directories are created as needed with
// their defaults (not the ones below in the image), and a --chown name is
// resolved on the empty tree, so only numeric IDs work. BuildKit falls
// back to a plain copy when --chmod is given; so does this. The history
// row is a plain COPY's (BuildKit writes no --link in it). The steps before
// it still run first: the stage's steps are run in order.

// linkOn says whether a COPY or ADD is linked: --link (or --link=true)
// without --chmod.
func linkOn(in Instruction) (bool, error) {
	v := in.flag("link")
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("--link=%s: want true or false", v)
	}
	return on && in.flag("chmod") == "", nil
}

// linkKey is a linked step's cache key: what decides its files (its text,
// resolved destination and source part), not the layers below.
func linkKey(createdBy, dest string, destDir bool, part string) digest.Digest {
	return cache.Key("", "link", createdBy, dest, strconv.FormatBool(destDir), part)
}

// linkStep runs a linked COPY or ADD: from the cache when key has a usable
// record, else by running mutate on an empty tree; then stacks the layer
// on the stage.
func (b *builder) linkStep(ctx context.Context, s *state, in Instruction, log *stepLog, key digest.Digest, createdBy string, inp *stepInputs, mutate func(ctx context.Context, root string) error) error {
	rec, hit := cache.Record{}, false
	if !b.opts.NoCache {
		if r, ok, err := b.cache.Get(ctx, key); err == nil && ok && !r.Empty && r.ChainID == r.DiffID && b.usable(ctx, r) {
			rec, hit = r, true
		}
	}
	if !hit {
		alone := *s
		alone.missed = false // the steps before do not decide this one
		log.miss(b.missReason(ctx, &alone, inp))
		s.missed = true
		var err error
		if rec, err = b.execute(ctx, s, "", key, inp, true, mutate); err != nil {
			log.failed(err)
			return err
		}
	}
	stacked, err := b.stack(ctx, s.chainID, rec)
	if err != nil {
		log.failed(err)
		return err
	}
	parentKey := s.key
	b.apply(s, stacked, createdBy)
	s.key = cache.Key(parentKey, "linked", s.key.String())
	if hit {
		b.use(key)
		log.cached(rec.DiffID.String())
	} else {
		log.done()
	}
	return nil
}

// stack returns rec as a layer over parent: its snapshot at the chain of
// parent and the layer, unpacked there from rec's own snapshot unless it
// exists. The layer record then names that chain, which the image keeps.
func (b *builder) stack(ctx context.Context, parent digest.Digest, rec cache.Record) (cache.Record, error) {
	out := rec
	out.ChainID = layer.ChainID(parent, rec.DiffID)
	if parent == "" {
		return out, nil
	}
	if _, err := b.be.Snap.Stat(ctx, out.ChainID.String()); err != nil {
		r, done, err := b.layerTar(ctx, rec)
		if err != nil {
			return out, fmt.Errorf("link layer %s: %w", rec.DiffID, err)
		}
		u, err := layer.Unpack(ctx, b.be.Snap, parent, r, layer.UnpackOptions{Expect: rec.DiffID})
		done()
		if err != nil {
			return out, fmt.Errorf("stack link layer %s on %s: %w", rec.DiffID, parent, err)
		}
		out.ChainID = u.ChainID
	}
	b.usedMu.Lock()
	b.linked = append(b.linked, metadata.Layer{DiffID: rec.DiffID, ChainID: out.ChainID, Size: rec.Size, Blobs: []ocispec.Descriptor{rec.Blob}, Index: rec.Index})
	b.usedMu.Unlock()
	return out, nil
}

// layerTar streams rec's uncompressed tar: rebuilt from its snapshot and
// tar-split index, or (a build that stores blobs) its blob decompressed.
// done releases it.
func (b *builder) layerTar(ctx context.Context, rec cache.Record) (io.Reader, func(), error) {
	if rec.Index == nil {
		rc, err := b.be.Content.Reader(ctx, rec.Blob)
		if err != nil {
			return nil, nil, err
		}
		zr, _, err := archive.Decompress(rc)
		if err != nil {
			rc.Close()
			return nil, nil, err
		}
		return zr, func() { zr.Close(); rc.Close() }, nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(b.withView(ctx, rec.ChainID, func(root string) error {
			return layer.RebuildTar(ctx, b.be.Content, *rec.Index, root, pw)
		}))
	}()
	return pr, func() { pr.CloseWithError(io.ErrClosedPipe) }, nil
}
