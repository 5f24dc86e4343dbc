package layer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/verify"
)

// read brings the blob of j into the content store. A blob the store has
// is not read again. With Resumable the ingest is named after the digest:
// bytes a killed run left are kept and only the rest is asked for, and two
// runs reading the same blob share the ingest (the second waits for the
// first and then finds the blob committed).
//
// With stream, a read that starts from byte 0 is also unpacked as it
// arrives, onto parent or with stage into a snapshot of its own
// (j.unpacked). If that cannot be done (archive.ErrNeedsLower) the read
// goes on alone and the layer is unpacked from the stored blob in its turn
// (finish); any other unpack error ends the read and keeps nothing, unless
// the blob's digest is wrong (a corrupt blob is the better error).
func (p *Pipeline) read(ctx context.Context, j *job, parent digest.Digest, stream, stage bool, opts Options) error {
	rep := opts.Progress
	src := j.src
	j.desc = src.Desc
	have := func() bool {
		if src.Desc.Digest == "" || opts.Compress {
			return false
		}
		info, err := p.Content.Info(ctx, src.Desc.Digest)
		return err == nil && (src.Desc.Size <= 0 || info.Size == src.Desc.Size)
	}
	if have() {
		if opts.PullEvents {
			rep.Report(progress.Event{ID: src.ID, Action: "Download complete"})
		}
		return nil
	}
	wo := content.WriterOptions{}
	if opts.Resumable && src.Desc.Digest != "" && !opts.Compress {
		wo = content.WriterOptions{Ref: "pull-" + src.Desc.Digest.String(), Algorithm: src.Desc.Digest.Algorithm(), Wait: true}
	}
	w, err := p.Content.Writer(ctx, wo)
	if err != nil {
		return err
	}
	defer w.Close()
	if wo.Ref != "" && have() {
		// Another run committed it while we waited. Committing our empty
		// ingest against the descriptor fails its check, which drops it.
		_ = w.Commit(ctx, src.Desc.Size, src.Desc.Digest)
		if opts.PullEvents {
			rep.Report(progress.Event{ID: src.ID, Action: "Download complete"})
		}
		return nil
	}
	if wo.Ref != "" && !opts.KeepBlob && j.chainID != "" && !p.snapshotNew(ctx, j.chainID) {
		// Another run unpacked the layer while we waited, and the blob
		// cache has already let its blob go: the layer is there.
		j.present = true
		if opts.PullEvents {
			rep.Report(progress.Event{ID: src.ID, Action: "Already exists"})
		}
		return nil
	}
	off := w.Offset()
	rc, start, size, err := src.Open(ctx, off)
	if err != nil {
		return err
	}
	defer rc.Close()
	if src.Desc.Size <= 0 && size > 0 {
		src.Desc.Size = size
	}
	if start != off {
		if err := w.Truncate(start); err != nil {
			return err
		}
	}
	var sink io.Writer = w
	var zw io.WriteCloser
	if opts.Compress {
		if zw, err = archive.Compress(w, opts.Compression, 0); err != nil {
			return err
		}
		defer zw.Close()
		sink = zw
	}
	var su *streamUnpack
	if stream && start == 0 {
		su = p.startStream(ctx, j, parent, stage, opts)
		defer func() {
			if su != nil {
				su.abort(errors.New("read ended early"))
			}
		}()
		sink = io.MultiWriter(sink, su)
	}
	var body io.Reader = rc
	if src.Desc.Size > 0 {
		body = io.LimitReader(rc, src.Desc.Size-start)
	}
	action := opts.Reading
	if action == "" {
		action = "Downloading"
	}
	c := progress.NewCounter(rep, src.ID, action, start, src.Desc.Size)
	_, err = io.CopyBuffer(io.MultiWriter(sink, c), body, make([]byte, 1<<20))
	c.Flush()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // a resumable ingest keeps what came, for the next run
		}
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compress layer: %w", err)
		}
		j.desc.MediaType = MediaType(opts.Compression)
	}
	if opts.PullEvents {
		rep.Report(progress.Event{ID: src.ID, Action: "Verifying Checksum"})
	}
	var un *unpacked
	var unErr error
	if su != nil {
		// What unpacked is used only once the digest is checked.
		un, unErr = su.finish()
		su = nil
	}
	size, want := src.Desc.Size, src.Desc.Digest
	if size <= 0 || opts.Compress {
		size, want = -1, ""
	}
	dgst, n := w.Digest(), w.Offset()
	failed := unErr != nil && !errors.Is(unErr, archive.ErrNeedsLower)
	if failed && (want == "" || (dgst == want && n == size)) {
		return unErr // the bytes are as named but do not unpack: keep nothing
	}
	if err := p.commit(ctx, w, size, want, opts.Undo); err != nil {
		if un != nil {
			un.discard(ctx)
		}
		var mm *verify.MismatchError
		if errors.As(err, &mm) {
			origin := opts.Origin
			if origin == "" {
				origin = "the source"
			}
			return fmt.Errorf("%w: %s sent corrupt data", err, origin)
		}
		return err
	}
	j.desc.Digest, j.desc.Size = dgst, n
	if opts.PullEvents {
		rep.Report(progress.Event{ID: src.ID, Action: "Download complete"})
	}
	if failed {
		return unErr
	}
	j.unpacked = un
	return nil
}

// streamUnpack unpacks a layer from the bytes written to it, in a
// goroutine reading a chunkPipe.
type streamUnpack struct {
	pipe   *chunkPipe
	result chan streamResult
	failed bool // a write failed: the unpacker stopped; writes are dropped
}

type streamResult struct {
	un  *unpacked
	err error
}

// startStream starts the unpacker. Its goroutine ends when the pipe ends:
// closed after the last byte (finish), or closed with an error (abort), or
// when the unpack fails; it reads the pipe to its end after the tar so the
// bytes after the tar's end are hashed too, and then stops the pipe so
// that writes never block.
func (p *Pipeline) startStream(ctx context.Context, j *job, parent digest.Digest, stage bool, opts Options) *streamUnpack {
	pipe := newChunkPipe(4, 1<<20)
	su := &streamUnpack{pipe: pipe, result: make(chan streamResult, 1)}
	go func() {
		un, err := p.unpack(ctx, pipe, j, parent, stage, opts)
		if err == nil {
			_, err = io.Copy(io.Discard, pipe)
		}
		pipe.CloseRead()
		if err != nil && un != nil {
			un.discard(ctx)
			un = nil
		}
		su.result <- streamResult{un, err}
	}()
	return su
}

// Write passes b to the unpacker; once it has stopped, b is dropped (the
// read goes on without it).
func (su *streamUnpack) Write(b []byte) (int, error) {
	if !su.failed {
		if _, err := su.pipe.Write(b); err != nil {
			su.failed = true
		}
	}
	return len(b), nil
}

// finish ends the stream and returns the unpacker's result.
func (su *streamUnpack) finish() (*unpacked, error) {
	su.pipe.CloseWithError(nil)
	r := <-su.result
	return r.un, r.err
}

// abort ends the stream with err and drops what was unpacked.
func (su *streamUnpack) abort(err error) {
	su.pipe.CloseWithError(err)
	if r := <-su.result; r.un != nil {
		r.un.discard(context.Background())
	}
}
