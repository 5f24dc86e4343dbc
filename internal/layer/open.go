package layer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/verify"
)

// A build keeps each layer it makes as its snapshot and a tar-split index,
// with no blob (CreateIndexed): its manifest names the uncompressed tar,
// whose digest is the diffID. Push compresses such a layer from the
// snapshot (Rebuild); save and fsck read it through what follows, as they
// do a compressed blob the blob cache evicted.

// unstored returns the record of the layer whose blob desc is not in the
// store but can be rebuilt: desc is its uncompressed form and the record
// has a tar-split index.
func (p *Pipeline) unstored(ctx context.Context, desc ocispec.Descriptor) (metadata.Layer, bool) {
	rec, ok := Record(ctx, p.DB, desc.Digest)
	if !ok || rec.Index == nil || !Unstored(desc, rec.DiffID) {
		return rec, false
	}
	return rec, true
}

// Available says whether layer blob desc (diffID, at chainID in its
// image) can be read: it is in the store, or it is rebuildable from a
// committed snapshot and a tar-split index that are both there (a build's
// layer, or one whose blob the blob cache evicted).
func (p *Pipeline) Available(ctx context.Context, desc ocispec.Descriptor, diffID, chainID digest.Digest) error {
	_, err := p.Content.Info(ctx, desc.Digest)
	if err == nil || !errdefs.IsNotFound(err) {
		return err
	}
	rec, ok := Record(ctx, p.DB, diffID)
	if !ok || rec.Index == nil {
		return err
	}
	if _, ierr := p.Content.Info(ctx, rec.Index.Digest); ierr != nil {
		return fmt.Errorf("not stored, and its tar-split index %s: %w", rec.Index.Digest, ierr)
	}
	if _, serr := p.Snap.Stat(ctx, chainID.String()); serr != nil {
		return fmt.Errorf("not stored, and its snapshot %s: %w", chainID, serr)
	}
	return nil
}

// Reader reads layer blob desc of a local image, verified as
// content.Store.Reader does: from the store, or rebuilt from its snapshot
// when a build did not store it or the blob cache evicted it. A Pipeline
// so is the blob provider of save (transfer.Store.Save).
func (p *Pipeline) Reader(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := p.Content.Reader(ctx, desc)
	if err == nil || !errdefs.IsNotFound(err) {
		return rc, err
	}
	rec, ok := p.unstored(ctx, desc)
	if !ok {
		return p.evictedBlob(ctx, desc, err)
	}
	return p.rebuiltTar(ctx, rec, desc)
}

// evictedBlob reads a compressed layer blob the blob cache evicted, rebuilt
// from its snapshot and tar-split index in the compression it had. Only a
// rebuild that gives the same bytes (a layer Strata compressed itself)
// answers; another gets notFound, naming why. The layer is found by the
// blob among the records' known forms.
func (p *Pipeline) evictedBlob(ctx context.Context, desc ocispec.Descriptor, notFound error) (io.ReadCloser, error) {
	var rec metadata.Layer
	found := false
	err := p.DB.View(ctx, func(tx *metadata.Tx) error {
		all, err := tx.Layers()
		if err != nil {
			return err
		}
		for _, l := range all {
			for _, b := range l.Blobs {
				if b.Digest == desc.Digest && l.Index != nil {
					rec, found = l, true
					return nil
				}
			}
		}
		return nil
	})
	if err != nil || !found {
		return nil, notFound
	}
	comp, err := CompressionOf(desc.MediaType)
	if err != nil {
		return nil, notFound
	}
	d, err := p.Rebuild(ctx, rec, comp)
	if err != nil {
		return nil, fmt.Errorf("layer %s was evicted from the blob cache and could not be rebuilt: %w", desc.Digest, err)
	}
	if d.Digest != desc.Digest {
		return nil, fmt.Errorf("layer %s was evicted from the blob cache; rebuilt, it is %s: %w", desc.Digest, d.Digest, notFound)
	}
	return p.Content.Reader(ctx, desc)
}

// rebuiltTar streams the tar of layer rec from a read-only view of its
// snapshot. The rebuilding goroutine ends when the tar is written or when
// the reader is closed (its next write fails); Close waits for it, so the
// view is unmounted and removed by then.
func (p *Pipeline) rebuiltTar(ctx context.Context, rec metadata.Layer, desc ocispec.Descriptor) (io.ReadCloser, error) {
	v, ok := p.Snap.(viewer)
	if !ok {
		return nil, fmt.Errorf("layer %s: the snapshotter cannot view snapshots: %w", desc.Digest, errdefs.ErrNotImplemented)
	}
	key := ExtractKey() + "-rebuild"
	mounts, err := v.View(ctx, key, rec.ChainID.String())
	if err != nil {
		return nil, fmt.Errorf("layer %s: view snapshot %s: %w", desc.Digest, rec.ChainID, err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := WithMounted(ctx, mounts, func(root string) error {
			return RebuildTar(ctx, p.Content, *rec.Index, root, pw)
		})
		if rerr := p.Snap.Remove(context.WithoutCancel(ctx), key); err == nil && rerr != nil {
			err = rerr
		}
		if err != nil {
			err = fmt.Errorf("rebuild layer %s: %w", desc.Digest, err)
		}
		pw.CloseWithError(err)
		done <- err
	}()
	vr, err := verify.NewReader(&pipeWait{pr: pr, done: done}, desc)
	if err != nil {
		pr.Close()
		<-done
		return nil, err
	}
	return vr, nil
}

// pipeWait is the read end of a pipe whose Close also waits for the writer
// to be done.
type pipeWait struct {
	pr   *io.PipeReader
	done chan error
}

func (p *pipeWait) Read(b []byte) (int, error) { return p.pr.Read(b) }

func (p *pipeWait) Close() error {
	p.pr.Close()
	err := <-p.done
	if errors.Is(err, io.ErrClosedPipe) {
		return nil // closed before the end: the caller stopped reading
	}
	return err
}
