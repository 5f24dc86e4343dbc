package registry

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry/backend"
)

// localBlobs is the embedded backend.Blobs: the content store on the
// server's own disk. Upload sessions are ingests keyed by the upload id,
// so their state lives in the store (Writer.State is nil).
type localBlobs struct{ store *content.Store }

// LocalBlobs serves blobs from a content store.
func LocalBlobs(store *content.Store) backend.Blobs { return localBlobs{store} }

func (l localBlobs) Stat(ctx context.Context, dgst digest.Digest) (backend.BlobInfo, error) {
	info, err := l.store.Info(ctx, dgst)
	if err != nil {
		return backend.BlobInfo{}, err
	}
	return backend.BlobInfo{Digest: info.Digest, Size: info.Size, ModTime: info.ModTime}, nil
}

type localBlob struct {
	*os.File
	size int64
}

func (b localBlob) Size() int64 { return b.size }

func (l localBlobs) Open(ctx context.Context, dgst digest.Digest) (backend.Blob, error) {
	f, err := l.store.OpenFile(dgst)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return localBlob{f, fi.Size()}, nil
}

func (l localBlobs) Put(ctx context.Context, dgst digest.Digest, size int64, r io.Reader) error {
	_, _, err := l.store.WriteBlob(ctx, r, size, dgst)
	return err
}

func (l localBlobs) Writer(ctx context.Context, id string, alg digest.Algorithm, _ []byte) (backend.Writer, error) {
	cw, err := l.store.Writer(ctx, content.WriterOptions{Ref: uploadRef(id), Algorithm: alg})
	if err != nil {
		return nil, err
	}
	return localWriter{cw}, nil
}

func (l localBlobs) Delete(ctx context.Context, dgst digest.Digest) error {
	return l.store.Delete(ctx, dgst)
}

func (l localBlobs) Walk(ctx context.Context, fn func(backend.BlobInfo) error) error {
	return l.store.Walk(ctx, func(info content.Info) error {
		return fn(backend.BlobInfo{Digest: info.Digest, Size: info.Size, ModTime: info.ModTime})
	})
}

func (l localBlobs) CleanUploads(ctx context.Context, age time.Duration) error {
	_, err := l.store.CleanIngests(ctx, age)
	return err
}

// Verify re-hashes a stored blob (fsck); other stores are checked by Walk
// and Stat only.
func (l localBlobs) Verify(ctx context.Context, dgst digest.Digest) error {
	return l.store.Verify(ctx, dgst)
}

type localWriter struct{ *content.Writer }

func (w localWriter) State(context.Context) ([]byte, error) { return nil, nil }

func (w localWriter) Commit(ctx context.Context, dgst digest.Digest) error {
	return w.Writer.Commit(ctx, -1, dgst)
}

func (w localWriter) Abort(context.Context) error {
	w.Writer.Abort()
	return nil
}
