package remote

import (
	"context"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OpenBlob is FetchBlob whose body survives a broken connection: when the
// body fails or ends before desc.Size, the reader asks for the rest from
// the byte it got to (HTTP Range) and goes on, so its reader sees one
// unbroken stream. The request itself is retried by the client (send); a
// body cut again without a byte gained counts as a failure, and after the
// client's attempts the read fails naming the byte it stopped at. The
// reader never returns more than desc.Size bytes in all; the bytes are not
// verified (the caller hashes them). start is as FetchBlob's.
func (r *Repository) OpenBlob(ctx context.Context, desc ocispec.Descriptor, offset int64) (rc io.ReadCloser, start int64, err error) {
	body, start, err := r.FetchBlob(ctx, desc, offset)
	if err != nil {
		return nil, 0, err
	}
	return &blobReader{ctx: ctx, repo: r, desc: desc, body: body, pos: start, wait: r.h.c.backoff}, start, nil
}

// blobReader is the body of a blob fetch, resumed after a cut.
type blobReader struct {
	ctx      context.Context // the fetch's; the reader lives no longer
	repo     *Repository
	desc     ocispec.Descriptor
	body     io.ReadCloser // nil after a cut, until reopened
	pos      int64         // bytes of the blob returned so far
	failures int
	wait     time.Duration
	last     error // what cut the body last
}

func (b *blobReader) Read(p []byte) (int, error) {
	for {
		if b.pos >= b.desc.Size {
			return 0, io.EOF
		}
		if b.body == nil {
			if err := b.reopen(); err != nil {
				return 0, err
			}
		}
		if rest := b.desc.Size - b.pos; int64(len(p)) > rest {
			p = p[:rest]
		}
		n, err := b.body.Read(p)
		b.pos += int64(n)
		if n > 0 {
			b.failures, b.wait = 0, b.repo.h.c.backoff // it moved: a fresh budget
		}
		if err == nil || b.pos >= b.desc.Size {
			return n, nil
		}
		// The body ended (io.EOF early, or a broken connection): reopen
		// at pos on the next Read.
		b.body.Close()
		b.body, b.last = nil, err
		if b.ctx.Err() != nil {
			return n, b.ctx.Err()
		}
		if n > 0 {
			return n, nil
		}
	}
}

// reopen asks for the blob from pos on, after a backoff. A registry that
// ignores the Range sends the blob from its start: the bytes already
// returned are skipped.
func (b *blobReader) reopen() error {
	for {
		if b.failures++; b.failures >= b.repo.h.c.attempts {
			return fmt.Errorf("fetch blob %s: stopped at byte %d of %d: %w", b.desc.Digest, b.pos, b.desc.Size, b.last)
		}
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-time.After(b.wait):
		}
		b.wait *= 2
		body, start, err := b.repo.FetchBlob(b.ctx, b.desc, b.pos)
		if err != nil {
			return err // the client has retried the request already
		}
		if start < b.pos {
			if _, err := io.CopyN(io.Discard, body, b.pos-start); err != nil {
				body.Close()
				b.last = err
				continue
			}
		}
		b.body = body
		return nil
	}
}

func (b *blobReader) Close() error {
	if b.body == nil {
		return nil
	}
	return b.body.Close()
}
