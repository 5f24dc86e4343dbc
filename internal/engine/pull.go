package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/verify"
)

// PullOptions describe a `strata pull`.
type PullOptions struct {
	// Platform is os/arch[/variant] to pick from an index; "" is this
	// machine's.
	Platform string
	// All pulls every tag of the repository.
	All bool
	// Quiet sends no progress events.
	Quiet bool
	// Progress receives per-layer events and the Digest/Status lines.
	Progress progress.Reporter
	// Client talks to the registry; nil makes one that reads docker's
	// credentials and insecure-registries.
	Client *remote.Client
}

// pullConcurrency bounds the layers fetched at once.
const pullConcurrency = 3

// Pull fetches an image from its registry into the store, unpacks its
// layers and names it. It returns the digest the reference resolved to (an
// index's when the registry has one).
func (e *Engine) Pull(ctx context.Context, ref string, opts PullOptions) (digest.Digest, error) {
	named, err := images.ParseName(ref)
	if err != nil {
		return "", err
	}
	if opts.Quiet {
		opts.Progress = nil
	}
	client := e.remoteClient(opts.Client)
	if !opts.All {
		d, err := e.pullOne(ctx, client, named, opts)
		if err != nil {
			return "", e.diskHint(fmt.Errorf("pull %s: %w", reference.FamiliarString(named), err))
		}
		return d, nil
	}
	if raw, err := reference.ParseNormalizedNamed(ref); err == nil && !reference.IsNameOnly(raw) {
		return "", fmt.Errorf("pull %s: a tag or digest cannot be used with --all-tags: %w", ref, errdefs.ErrInvalidArgument)
	}
	repoName := reference.TrimNamed(named)
	repo, err := client.Repository(ctx, repoName, false)
	if err != nil {
		return "", err
	}
	tags, err := repo.Tags(ctx)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", reference.FamiliarName(repoName), err)
	}
	var last digest.Digest
	for _, tag := range tags {
		t, err := reference.WithTag(repoName, tag)
		if err != nil {
			continue
		}
		if last, err = e.pullOne(ctx, client, t, opts); err != nil {
			return "", e.diskHint(fmt.Errorf("pull %s: %w", reference.FamiliarString(t), err))
		}
	}
	return last, nil
}

// pullOne pulls one tag or digest.
func (e *Engine) pullOne(ctx context.Context, client *remote.Client, named reference.Named, opts PullOptions) (digest.Digest, error) {
	platform := manifest.Platform()
	if opts.Platform != "" {
		p, err := manifest.ParsePlatform(opts.Platform)
		if err != nil {
			return "", err
		}
		platform = p
	}
	rep := opts.Progress
	refStr := "latest"
	if t, ok := named.(reference.Tagged); ok {
		refStr = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		refStr = d.Digest().String()
	}
	unlock, err := e.lock(ctx, false)
	if err != nil {
		return "", err
	}
	defer unlock()

	repo, err := client.Repository(ctx, named, false)
	if err != nil {
		return "", err
	}
	rep.Message("%s: Pulling from %s", refStr, reference.Path(named))
	top, body, err := repo.FetchManifest(ctx, refStr)
	if err != nil {
		return "", err
	}
	if err := e.putVerified(ctx, top, body); err != nil {
		return "", err
	}
	target, mdesc, mbody := top, top, body
	if manifest.IsIndex(top.MediaType) {
		idx, err := manifest.DecodeIndex(body)
		if err != nil {
			return "", fmt.Errorf("index %s: %w", top.Digest, err)
		}
		mdesc, err = manifest.SelectPlatform(idx, platform)
		if err != nil {
			return "", err
		}
		var got ocispec.Descriptor
		got, mbody, err = repo.FetchManifest(ctx, mdesc.Digest.String())
		if err != nil {
			return "", err
		}
		if got.Size != mdesc.Size {
			return "", fmt.Errorf("manifest %s: %d bytes, the index says %d: %w", mdesc.Digest, got.Size, mdesc.Size, errdefs.ErrDataCorrupt)
		}
		if err := e.putVerified(ctx, mdesc, mbody); err != nil {
			return "", err
		}
		// An image names its index only when Load would pick the same
		// manifest from it (this machine's platform); else the manifest.
		if host := manifest.Platform(); platform.OS != host.OS || platform.Architecture != host.Architecture {
			target = mdesc
		}
	}
	m, err := manifest.DecodeManifest(mbody)
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", mdesc.Digest, err)
	}
	cfgBytes, err := e.fetchSmallBlob(ctx, repo, m.Config)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	cfg, err := manifest.DecodeConfig(cfgBytes)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return "", fmt.Errorf("manifest %s has %d layers but its config lists %d diff_ids: %w", mdesc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	if err := e.pullLayers(ctx, repo, m.Layers, cfg.RootFS.DiffIDs, rep); err != nil {
		return "", err
	}

	name := named.String()
	upToDate := false
	_ = e.DB.View(ctx, func(tx *metadata.Tx) error {
		if old, err := tx.Image(name); err == nil && old.Target.Digest == target.Digest {
			upToDate = true
		}
		return nil
	})
	if err := e.nameImage(ctx, name, target); err != nil {
		return "", err
	}
	rep.Message("Digest: %s", top.Digest)
	if upToDate {
		rep.Message("Status: Image is up to date for %s", reference.FamiliarString(named))
	} else {
		rep.Message("Status: Downloaded newer image for %s", reference.FamiliarString(named))
	}
	return top.Digest, nil
}

// putVerified stores a small blob already in memory, checking it.
func (e *Engine) putVerified(ctx context.Context, desc ocispec.Descriptor, b []byte) error {
	_, _, err := e.Content.WriteBlob(ctx, strings.NewReader(string(b)), desc.Size, desc.Digest)
	return err
}

// fetchSmallBlob reads a config through the manifest cap, verified, and
// stores it.
func (e *Engine) fetchSmallBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > manifest.MaxSize {
		return nil, fmt.Errorf("%d bytes is over the %d byte limit: %w", desc.Size, manifest.MaxSize, errdefs.ErrInvalidArgument)
	}
	if b, err := e.Content.ReadAll(ctx, desc, manifest.MaxSize); err == nil {
		return b, nil
	}
	rc, _, err := repo.FetchBlob(ctx, desc, 0)
	if err != nil {
		return nil, err
	}
	v, err := verify.NewReader(rc, desc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	b, err := io.ReadAll(v)
	if cerr := v.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the registry sent corrupt data; nothing was kept", err)
	}
	if err := e.putVerified(ctx, desc, b); err != nil {
		return nil, err
	}
	return b, nil
}

// pullLayers makes every layer's snapshot exist. Layers whose chain's
// snapshot is there already are skipped ("Already exists"); the rest are
// fetched at most pullConcurrency at once. On a snapshotter that can stack
// layers later (overlay, layer.CanStage) every layer unpacks into its own
// snapshot as it downloads, and one goroutine stacks them in chain order;
// otherwise only the layer whose parent is complete unpacks as it
// downloads, and that goroutine unpacks the others from their blobs in
// chain order as each one's blob is complete, so unpacking layer i overlaps
// fetching the layers above it. A layer that could not unpack while it
// downloaded is unpacked from its blob in its turn.
func (e *Engine) pullLayers(ctx context.Context, repo *remote.Repository, descs []ocispec.Descriptor, diffIDs []digest.Digest, rep progress.Reporter) error {
	chains := manifest.ChainIDs(diffIDs)
	start := 0
	for i := len(chains) - 1; i >= 0; i-- {
		if _, err := e.Snap.Stat(ctx, chains[i].String()); err == nil {
			start = i + 1
			break
		}
	}
	for i, d := range descs {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("layer %d: digest %q: %w", i, d.Digest, errdefs.ErrInvalidArgument)
		}
		if _, ok := manifest.Compression(d.MediaType); !ok {
			return fmt.Errorf("layer %s: media type %q is not a layer: %w", d.Digest, d.MediaType, errdefs.ErrNotImplemented)
		}
		if i < start {
			rep.Report(progress.Event{ID: images.ShortID(d.Digest), Action: "Already exists"})
		} else {
			rep.Report(progress.Event{ID: images.ShortID(d.Digest), Action: "Waiting"})
		}
	}
	if start == len(descs) {
		return nil
	}
	canStage := layer.CanStage(e.Snap)
	g, gctx := errgroup.WithContext(ctx)
	ready := make([]chan struct{}, len(descs))
	streams := make([]*layerStream, len(descs)) // written before ready[i] closes
	defer func() {
		for _, st := range streams {
			if st != nil && st.staged != nil {
				st.staged.s.Discard(ctx)
			}
		}
	}()
	var waiting atomic.Int64 // the layer the unpacker waits for
	waiting.Store(int64(start))
	sem := make(chan struct{}, pullConcurrency)
	for i := start; i < len(descs); i++ {
		ready[i] = make(chan struct{})
		g.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			// Staged, every layer unpacks as it downloads; else only the
			// one the unpacker waits for: its parent is complete.
			var stream *layerStream
			if canStage || waiting.Load() == int64(i) {
				stream = &layerStream{parent: parentOf(chains, i), diffID: diffIDs[i], stage: canStage}
			}
			if err := e.fetchLayer(gctx, repo, descs[i], rep, stream); err != nil {
				return err
			}
			streams[i] = stream
			close(ready[i])
			return nil
		})
	}
	// The unpacker ends after the top layer, or when a fetch failed
	// (gctx is cancelled), or on its own error (which cancels the fetches).
	g.Go(func() error {
		for i := start; i < len(descs); i++ {
			waiting.Store(int64(i))
			select {
			case <-ready[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			st := streams[i]
			switch {
			case st != nil && st.staged != nil:
				staged := st.staged
				st.staged = nil
				if err := e.commitStaged(gctx, repo, descs[i], staged, parentOf(chains, i)); err != nil {
					return err
				}
				rep.Report(progress.Event{ID: images.ShortID(descs[i].Digest), Action: "Pull complete"})
			case st != nil && st.done:
			default:
				if err := e.unpackPulled(gctx, repo, descs[i], parentOf(chains, i), diffIDs[i], rep); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return g.Wait()
}

func parentOf(chains []digest.Digest, i int) digest.Digest {
	if i == 0 {
		return ""
	}
	return chains[i-1]
}

// layerStream asks fetchLayer to unpack the layer while it downloads:
// onto parent, or with stage into a snapshot of its own (layer.Stage).
type layerStream struct {
	parent, diffID digest.Digest
	stage          bool
	done           bool         // the layer was unpacked from the download
	staged         *stagedLayer // with stage and done: to be committed on parent
}

// fetchLayer brings the blob of desc into the content store through a
// resumable ingest named after its digest: bytes a killed or cut pull left
// are kept and only the rest is asked for (HTTP Range). Two pulls of the
// same blob share the ingest: the second waits for the first and then
// finds the blob committed.
//
// With stream, a download that starts from byte 0 is also unpacked as it
// arrives (tee into a pipe read by the unpacker); if that fails for any
// reason the download goes on alone and stream.done stays false, so the
// layer is unpacked from the stored blob afterwards.
func (e *Engine) fetchLayer(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, rep progress.Reporter, stream *layerStream) error {
	id := images.ShortID(desc.Digest)
	if info, err := e.Content.Info(ctx, desc.Digest); err == nil && info.Size == desc.Size {
		rep.Report(progress.Event{ID: id, Action: "Download complete"})
		return nil
	}
	w, err := e.Content.Writer(ctx, content.WriterOptions{Ref: "pull-" + desc.Digest.String(), Algorithm: desc.Digest.Algorithm(), Wait: true})
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	defer w.Close()
	if _, err := e.Content.Info(ctx, desc.Digest); err == nil {
		// Another pull committed it while we waited. Committing our empty
		// ingest against desc fails its check, which drops the ingest.
		_ = w.Commit(ctx, desc.Size, desc.Digest)
		rep.Report(progress.Event{ID: id, Action: "Download complete"})
		return nil
	}
	buf := make([]byte, 1<<20)
	failures := 0
	wait := 200 * time.Millisecond
	var un *streamUnpack
	defer func() {
		if un != nil {
			un.abort(fmt.Errorf("download ended early"))
		}
	}()
	for w.Offset() < desc.Size {
		off := w.Offset()
		rc, startAt, err := repo.FetchBlob(ctx, desc, off)
		if err == nil && startAt != off {
			err = w.Truncate(startAt)
		}
		if err == nil {
			var dst io.Writer = w
			if stream != nil && startAt == 0 && failures == 0 {
				un = e.startStreamUnpack(ctx, repo, desc, stream, rep)
				dst = io.MultiWriter(w, un)
			} else if un != nil {
				un.abort(fmt.Errorf("download restarted"))
				un = nil
			}
			c := progress.NewCounter(rep, id, "Downloading", startAt, desc.Size)
			_, err = io.CopyBuffer(io.MultiWriter(dst, c), io.LimitReader(rc, desc.Size-startAt), buf)
			c.Flush()
			rc.Close()
		}
		if err == nil {
			break
		}
		if un != nil {
			un.abort(err)
			un = nil
		}
		if ctx.Err() != nil {
			return ctx.Err() // the ingest keeps what came, for the next pull
		}
		if errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrUnauthorized) || errors.Is(err, errdefs.ErrDenied) {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		if w.Offset() > off {
			failures, wait = 0, 200*time.Millisecond // it moved: a fresh budget
		}
		if failures++; failures >= 5 {
			return fmt.Errorf("layer %s: fetch stopped at byte %d of %d: %w", desc.Digest, w.Offset(), desc.Size, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	rep.Report(progress.Event{ID: id, Action: "Verifying Checksum"})
	if un != nil {
		// The unpacker's result is only used once the digest is checked:
		// a snapshot whose diffID matched is right in any case, but the
		// layer is reported only with its blob committed.
		stream.staged, err = un.finish()
		stream.done = err == nil
		un = nil
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil && !errdefs.IsAlreadyExists(err) {
		if stream != nil && stream.staged != nil {
			stream.staged.s.Discard(ctx)
			stream.staged, stream.done = nil, false
		}
		var mm *verify.MismatchError
		if errors.As(err, &mm) {
			return fmt.Errorf("layer %w: the registry sent corrupt data; nothing was kept", err)
		}
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	rep.Report(progress.Event{ID: id, Action: "Download complete"})
	if stream != nil && stream.done && stream.staged == nil {
		rep.Report(progress.Event{ID: id, Action: "Pull complete"})
	}
	return nil
}

// streamUnpack unpacks a layer from the bytes written to it, in a
// goroutine reading a pipe.
type streamUnpack struct {
	pw     *io.PipeWriter
	result chan unpackResult
	failed bool // a write failed: the unpacker stopped; writes are dropped
}

type unpackResult struct {
	staged *stagedLayer
	err    error
}

// startStreamUnpack starts the unpacker. Its goroutine ends when the pipe
// ends: closed after the last byte (finish), or closed with an error
// (abort); it drains the pipe after the tar ends so writes never block.
func (e *Engine) startStreamUnpack(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, stream *layerStream, rep progress.Reporter) *streamUnpack {
	pr, pw := io.Pipe()
	u := &streamUnpack{pw: pw, result: make(chan unpackResult, 1)}
	go func() {
		staged, err := e.unpackFrom(ctx, repo, pr, desc, stream.parent, stream.diffID, nil, stream.stage)
		if err == nil {
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(errStreamStopped)
		if err != nil && staged != nil {
			staged.s.Discard(ctx)
			staged = nil
		}
		u.result <- unpackResult{staged, err}
	}()
	return u
}

var errStreamStopped = errors.New("stream unpack stopped")

// Write passes p to the unpacker; once it has stopped, p is dropped (the
// download goes on without it).
func (u *streamUnpack) Write(p []byte) (int, error) {
	if !u.failed {
		if _, err := u.pw.Write(p); err != nil {
			u.failed = true
		}
	}
	return len(p), nil
}

// finish ends the stream and returns the unpacker's result.
func (u *streamUnpack) finish() (*stagedLayer, error) {
	u.pw.Close()
	r := <-u.result
	return r.staged, r.err
}

func (u *streamUnpack) abort(err error) {
	u.pw.CloseWithError(err)
	if r := <-u.result; r.staged != nil {
		r.staged.s.Discard(context.Background())
	}
}

// unpackPulled unpacks a fetched layer blob onto parent, checking its
// diffID, keeps its tar-split index, and records the layer with the
// repository the blob came from.
func (e *Engine) unpackPulled(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, parent, diffID digest.Digest, rep progress.Reporter) error {
	id := images.ShortID(desc.Digest)
	f, err := e.Content.OpenFile(desc.Digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	defer f.Close()
	c := progress.NewCounter(rep, id, "Extracting", 0, desc.Size)
	if _, err := e.unpackFrom(ctx, repo, io.TeeReader(f, c), desc, parent, diffID, c, false); err != nil {
		return err
	}
	rep.Report(progress.Event{ID: id, Action: "Pull complete"})
	return nil
}

// stagedLayer is a pulled layer unpacked on its own, with its tar-split
// index stored, waiting to be stacked on its parent.
type stagedLayer struct {
	s   *layer.Staged
	idx ocispec.Descriptor
}

// unpackFrom decompresses and unpacks the compressed layer r onto parent,
// keeps its tar-split index and records the layer with the repository its
// blob came from. With stage it unpacks the layer on its own instead
// (layer.Stage) and returns it, for commitStaged once parent is there.
func (e *Engine) unpackFrom(ctx context.Context, repo *remote.Repository, r io.Reader, desc ocispec.Descriptor, parent, diffID digest.Digest, c *progress.Counter, stage bool) (*stagedLayer, error) {
	dr, _, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	ra := newReadahead(dr, 4, 1<<20) // decompress on one core, unpack on the other
	defer ra.Close()
	iw, err := e.Content.Writer(ctx, content.WriterOptions{})
	if err != nil {
		return nil, err
	}
	defer iw.Close()
	izw, err := archive.Compress(iw, archive.Gzip, 0)
	if err != nil {
		return nil, err
	}
	var u layer.Unpacked
	var staged *layer.Staged
	if stage {
		staged, err = layer.Stage(ctx, e.Snap, ra, layer.UnpackOptions{Index: izw, Expect: diffID})
	} else {
		u, err = layer.Unpack(ctx, e.Snap, parent, ra, layer.UnpackOptions{Index: izw, Expect: diffID})
	}
	if cerr := izw.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if staged != nil {
			staged.Discard(ctx)
		}
		return nil, fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	if c != nil {
		c.Flush()
	}
	idx := ocispec.Descriptor{MediaType: MediaTypeTarSplit, Digest: iw.Digest(), Size: iw.Offset()}
	if err := commit(ctx, iw, idx); err != nil {
		if staged != nil {
			staged.Discard(ctx)
		}
		return nil, err
	}
	if staged != nil {
		return &stagedLayer{s: staged, idx: idx}, nil
	}
	rec := metadata.Layer{DiffID: u.DiffID, ChainID: u.ChainID, Size: u.Size, Index: &idx}
	return nil, e.noteRemoteBlob(ctx, rec, desc, repo.Name())
}

// commitStaged stacks a staged layer on parent and records it with the
// repository its blob came from.
func (e *Engine) commitStaged(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, sl *stagedLayer, parent digest.Digest) error {
	u, err := sl.s.Commit(ctx, parent)
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	idx := sl.idx
	rec := metadata.Layer{DiffID: u.DiffID, ChainID: u.ChainID, Size: u.Size, Index: &idx}
	return e.noteRemoteBlob(ctx, rec, desc, repo.Name())
}

// diskHint adds what to do to an error that ran out of disk space. What a
// pull received stays in its ingest, so the pull resumes once there is room.
func (e *Engine) diskHint(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w; free space in %s (\"strata system prune\") and pull again: what was received is kept", err, e.root)
	}
	return err
}

// remoteClient is the caller's client, or one whose upload sessions live in
// the store so that a push cut short resumes in the next process.
func (e *Engine) remoteClient(c *remote.Client) *remote.Client {
	if c != nil {
		return c
	}
	return remote.New(remote.WithSessions(e.pushSessions()))
}
