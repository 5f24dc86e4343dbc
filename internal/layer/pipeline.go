package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/verify"
)

// Pipeline brings layers into a store: the one sequence behind pull, load,
// import and commit. For each layer it is handed (a Source) it reads the
// blob into the content store, verifying it, while it decompresses and
// unpacks it; it commits the snapshots in chain order and then writes the
// tar-split index and the layer record. Layers are read several at once;
// on a snapshotter that can stack layers later (CanStage) each unpacks into
// a snapshot of its own as it is read, else only the layer whose parent is
// complete does and the others unpack from their stored blobs in their
// turn, so unpacking one overlaps reading those above it.
//
// Crash order: blob and index first, then the snapshot, then the record
// that points at them (the image's name is the caller's, last). A killed
// run leaves at most ingests (a Resumable one picks its ingest up again)
// and active extract snapshots that gc removes.
//
// Per layer, three goroutines keep two cores busy: the reader (the
// source's bytes into the blob's ingest, hashing them, and into a buffered
// pipe), the decompressor (readahead) and the unpacker (hashing the tar
// and applying it).
type Pipeline struct {
	Content *content.Store
	Snap    Snapshotter
	DB      *metadata.DB
	// BlobCache, if set, makes the blob of each layer committed a cache
	// entry, evicted under its budget (cache.go); nil keeps every blob.
	BlobCache *BlobCache
}

// Source is one layer of a chain handed to Apply.
type Source struct {
	// Desc is the layer's blob as the image names it. Digest is empty when
	// it is not known before the blob is read (docker's old save format,
	// or an uncompressed tar to be compressed); MediaType is empty when the
	// compression is to be found from the bytes; Size is 0 when unknown.
	Desc ocispec.Descriptor
	// DiffID is what the uncompressed tar must hash to (the image config's
	// diff_ids), or "" for a new layer, whose diffID is learnt (then the
	// source must be the only one).
	DiffID digest.Digest
	// Open opens the blob from offset on and returns where the stream
	// really starts (0 when it cannot start later) and, when Desc.Size was
	// 0, the blob's size if it is known now (a streamed archive learns it
	// when it reaches the file). Offset is not 0 only for a Resumable
	// pipeline resuming an ingest.
	Open func(ctx context.Context, offset int64) (rc io.ReadCloser, start, size int64, err error)
	// Name says which layer this is in errors ("sha256:…", "2 (path)"; ""
	// for a lone new layer, whose caller says what it is); ID names it in
	// progress events.
	Name, ID string
}

// Options tune Apply. The zero value reads three layers at once, skips a
// layer whose snapshot exists, and keeps what it read as it came.
type Options struct {
	// Parent is the chain ID the first source goes on ("" for a base
	// layer); it must be committed.
	Parent digest.Digest
	// Concurrency bounds the sources read at once (default 3).
	Concurrency int
	// InOrder says the sources can only be read one after the other, in
	// order (an archive streamed from standard input): each is opened
	// once the one below it is unpacked.
	InOrder bool
	// Resumable keeps the bytes of a blob read in part in an ingest named
	// after its digest, for the next run to go on from (pull); two runs
	// reading the same blob share it (the second waits).
	Resumable bool
	// Compress makes the sources uncompressed tars, stored compressed
	// with Compression (import, commit).
	Compress    bool
	Compression archive.Compression
	// Repository, if set, is the registry repository the blobs come from,
	// noted on them in the layer records (see NoteBlob).
	Repository string
	// KeepBlob skips a layer only if, besides its snapshot, the store has
	// a blob for it (the one Desc names, when it names one): a load must
	// be able to save what it loaded.
	KeepBlob bool
	// Origin names where bytes come from in a corrupt-data error ("the
	// registry", "the archive").
	Origin string
	// Progress receives a byte counter per layer read (action Reading,
	// default "Downloading") and "Already exists" for a skipped one; with
	// PullEvents also docker pull's Waiting, Verifying Checksum, Download
	// complete, Extracting and Pull complete.
	Progress   progress.Reporter
	Reading    string
	PullEvents bool
	// Undo, if set, records what Apply added (Undo.Rollback removes it).
	Undo *Undo
}

// Result is a layer of the chain, in the store.
type Result struct {
	// Desc is the blob stored for the layer: the source's, or for a
	// skipped layer the one the store has.
	Desc    ocispec.Descriptor
	DiffID  digest.Digest
	ChainID digest.Digest
	Skipped bool // it was there already; nothing was read
}

// job is one source being brought in.
type job struct {
	i       int
	src     Source
	chainID digest.Digest // "" until unpacked when the diffID was not given
	read    chan struct{} // closed when the blob is read and committed
	done    chan struct{} // closed when the snapshot is committed
	prev    *job          // the job below, if it is not skipped
	before  *job          // the job before in the list

	// Set before read closes.
	desc     ocispec.Descriptor
	unpacked *unpacked // what unpacked as the blob was read, if anything
	present  bool      // another run brought the layer in meanwhile
}

// Apply brings the chain of layers srcs into the store on top of
// opts.Parent and returns, per source, what the store holds. Nothing is
// named: the caller writes the image that uses the layers. On error what
// was committed stays (see Undo to take it back); the rest is dropped.
func (p *Pipeline) Apply(ctx context.Context, srcs []Source, opts Options) ([]Result, error) {
	res := make([]Result, len(srcs))
	if len(srcs) == 0 {
		return res, nil
	}
	diffIDs := []digest.Digest{}
	if opts.Parent != "" {
		diffIDs = append(diffIDs, opts.Parent)
	}
	known := true
	for _, s := range srcs {
		known = known && s.DiffID != ""
		diffIDs = append(diffIDs, s.DiffID)
	}
	if !known && len(srcs) > 1 {
		return nil, fmt.Errorf("apply %d layers: every layer's diffID must be given: %w", len(srcs), errdefs.ErrInvalidArgument)
	}
	var chains []digest.Digest
	if known {
		chains = manifest.ChainIDs(diffIDs)[len(diffIDs)-len(srcs):]
	}
	rep := opts.Progress
	var jobs []*job
	var prev *job
	for i, s := range srcs {
		if s.Desc.Digest != "" {
			if err := s.Desc.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("layer %d: digest %q: %w", i, s.Desc.Digest, errdefs.ErrInvalidArgument)
			}
		}
		if s.Desc.MediaType != "" {
			if _, ok := manifest.Compression(s.Desc.MediaType); !ok {
				return nil, fmt.Errorf("layer %s: media type %q is not a layer: %w", s.Name, s.Desc.MediaType, errdefs.ErrNotImplemented)
			}
		}
		if chains != nil {
			if desc, ok := p.have(ctx, chains[i], s, opts.KeepBlob); ok {
				res[i] = Result{Desc: desc, DiffID: s.DiffID, ChainID: chains[i], Skipped: true}
				rep.Report(progress.Event{ID: s.ID, Action: "Already exists"})
				prev = nil
				continue
			}
		}
		j := &job{i: i, src: s, read: make(chan struct{}), done: make(chan struct{}), prev: prev}
		if len(jobs) > 0 {
			j.before = jobs[len(jobs)-1]
		}
		if chains != nil {
			j.chainID = chains[i]
		}
		jobs = append(jobs, j)
		prev = j
		if opts.PullEvents {
			rep.Report(progress.Event{ID: s.ID, Action: "Waiting"})
		}
	}
	if len(jobs) == 0 {
		return res, nil
	}
	parentOf := func(j *job) digest.Digest {
		if j.i == 0 {
			return opts.Parent
		}
		if j.prev != nil && j.prev.i == j.i-1 {
			return j.prev.chainID
		}
		return res[j.i-1].ChainID
	}
	stage := len(jobs) > 1 && !opts.InOrder && CanStage(p.Snap)
	defer func() {
		for _, j := range jobs {
			if j.unpacked != nil {
				j.unpacked.discard(ctx)
			}
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	limit := opts.Concurrency
	if limit <= 0 {
		limit = 3
	}
	sem := make(chan struct{}, limit)
	for _, j := range jobs {
		g.Go(func() error {
			// In order, a layer is opened once the one below is unpacked,
			// so that it unpacks as it is read.
			if opts.InOrder && j.before != nil {
				select {
				case <-j.before.done:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			defer func() { <-sem }()
			// Staged, every layer unpacks as it is read; else only one
			// whose parent is complete.
			stream := stage || j.prev == nil || isClosed(j.prev.done)
			if err := p.read(gctx, j, parentOf(j), stream, stage, opts); err != nil {
				var mm *verify.MismatchError
				if errors.As(err, &mm) {
					return fmt.Errorf("layer %w", err) // it names the digest
				}
				return j.wrap(err)
			}
			close(j.read)
			return nil
		})
	}
	// The unpacker ends after the top layer, or when a read failed (gctx
	// is cancelled), or on its own error (which cancels the reads).
	g.Go(func() error {
		for _, j := range jobs {
			select {
			case <-j.read:
			case <-gctx.Done():
				return gctx.Err()
			}
			r, err := p.finish(gctx, j, parentOf(j), opts)
			if err != nil {
				return j.wrap(err)
			}
			res[j.i] = r
			close(j.done)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return res, nil
}

// wrap says which layer err is about.
func (j *job) wrap(err error) error {
	if j.src.Name == "" {
		return err
	}
	return fmt.Errorf("layer %s: %w", j.src.Name, err)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// finish makes the snapshot of a read layer (stacking what was staged,
// or unpacking the stored blob if nothing unpacked as it was read) and
// writes its record. Once the snapshot, the index and the record are
// committed the layer is rebuildable from them, and its compressed blob
// becomes a blob cache entry (cache.go): with a budget of 0 it is gone
// before the next layer is done, so a pull keeps one copy of each layer.
// A blob read only in part is an ingest until then, so a pull killed
// before this point resumes where it was cut.
func (p *Pipeline) finish(ctx context.Context, j *job, parent digest.Digest, opts Options) (Result, error) {
	rep := opts.Progress
	if j.present {
		return Result{Desc: j.src.Desc, DiffID: j.src.DiffID, ChainID: j.chainID}, nil
	}
	un := j.unpacked
	j.unpacked = nil
	if un == nil && j.chainID != "" && !p.snapshotNew(ctx, j.chainID) {
		// Another run unpacked it meanwhile (a pull of an image that
		// shares the layer, which waited on this blob's ingest).
		return p.finishPresent(ctx, j, opts)
	}
	if un == nil {
		f, err := p.Content.OpenFile(j.desc.Digest)
		if errdefs.IsNotFound(err) && j.chainID != "" && !p.snapshotNew(ctx, j.chainID) {
			return p.finishPresent(ctx, j, opts) // and its blob cache evicted the blob
		}
		if err != nil {
			return Result{}, err
		}
		defer f.Close()
		var r io.Reader = f
		var c *progress.Counter
		if opts.PullEvents {
			c = progress.NewCounter(rep, j.src.ID, "Extracting", 0, j.desc.Size)
			r = io.TeeReader(f, c)
		}
		un, err = p.unpack(ctx, r, j, parent, false, opts)
		if err != nil {
			return Result{}, err
		}
		if c != nil {
			c.Flush()
		}
	}
	if un.staged != nil {
		var err error
		newSnap := p.snapshotNew(ctx, j.chainID)
		un.u, err = un.staged.Commit(ctx, parent)
		un.staged = nil
		if err != nil {
			return Result{}, err
		}
		if newSnap && opts.Undo != nil {
			opts.Undo.addSnapshot(un.u.ChainID.String())
		}
	}
	if j.chainID != "" && un.u.ChainID != j.chainID {
		return Result{}, fmt.Errorf("chain ID %s, want %s: %w", un.u.ChainID, j.chainID, errdefs.ErrDataCorrupt)
	}
	desc := j.desc
	if desc.MediaType == "" {
		desc.MediaType = MediaType(un.comp)
	}
	idx := un.idx
	rec := metadata.Layer{DiffID: un.u.DiffID, ChainID: un.u.ChainID, Size: un.u.Size, Index: &idx}
	if err := p.record(ctx, rec, desc, opts); err != nil {
		return Result{}, err
	}
	if err := p.cache(ctx, desc); err != nil {
		return Result{}, fmt.Errorf("blob cache: %w", err)
	}
	if opts.PullEvents {
		rep.Report(progress.Event{ID: j.src.ID, Action: "Pull complete"})
	}
	return Result{Desc: desc, DiffID: un.u.DiffID, ChainID: un.u.ChainID}, nil
}

// finishPresent ends a job whose layer another run committed meanwhile,
// noting the blob read, if it is still there, on the layer's record.
func (p *Pipeline) finishPresent(ctx context.Context, j *job, opts Options) (Result, error) {
	desc := j.desc
	if _, err := p.Content.Info(ctx, desc.Digest); err == nil && desc.MediaType != "" {
		rec := metadata.Layer{DiffID: j.src.DiffID, ChainID: j.chainID}
		if err := p.record(ctx, rec, desc, opts); err != nil {
			return Result{}, err
		}
		if err := p.cache(ctx, desc); err != nil {
			return Result{}, fmt.Errorf("blob cache: %w", err)
		}
	}
	if opts.PullEvents {
		opts.Progress.Report(progress.Event{ID: j.src.ID, Action: "Pull complete"})
	}
	return Result{Desc: desc, DiffID: j.src.DiffID, ChainID: j.chainID}, nil
}

// snapshotNew says whether the snapshot chainID is not there yet.
func (p *Pipeline) snapshotNew(ctx context.Context, chainID digest.Digest) bool {
	if chainID == "" {
		return false
	}
	_, err := p.Snap.Stat(ctx, chainID.String())
	return err != nil
}

// record writes the layer's record, remembering the old one for Undo.
func (p *Pipeline) record(ctx context.Context, rec metadata.Layer, desc ocispec.Descriptor, opts Options) error {
	return p.DB.Update(ctx, func(tx *metadata.Tx) error {
		if opts.Undo != nil {
			opts.Undo.addLayer(tx, rec.DiffID)
		}
		return NoteBlob(tx, rec, desc, opts.Repository)
	})
}

// unpacked is a layer decompressed and unpacked (or staged), its index
// committed.
type unpacked struct {
	u       Unpacked // with staged, only once Commit ran
	staged  *Staged
	idx     ocispec.Descriptor
	comp    archive.Compression
	newSnap bool // the snapshot was not there before Unpack
}

func (u *unpacked) discard(ctx context.Context) {
	if u.staged != nil {
		u.staged.Discard(ctx)
		u.staged = nil
	}
}

// unpack decompresses the blob r and unpacks it onto parent, checking the
// diffID, or with stage into a snapshot of its own (Stage), and commits
// its tar-split index.
func (p *Pipeline) unpack(ctx context.Context, r io.Reader, j *job, parent digest.Digest, stage bool, opts Options) (*unpacked, error) {
	dr, comp, err := archive.Decompress(r)
	if err != nil {
		return nil, err
	}
	// Decompress on one core, unpack on the other. Close does not wait for
	// the readahead's goroutine: it may be blocked reading a stream that
	// ends only with its download.
	ra := newReadahead(dr, 4, 1<<20)
	defer ra.Close()
	iw, err := p.Content.Writer(ctx, content.WriterOptions{})
	if err != nil {
		return nil, err
	}
	defer iw.Close()
	izw, err := CompressIndex(iw)
	if err != nil {
		return nil, err
	}
	un := &unpacked{comp: comp}
	uo := UnpackOptions{Index: izw, Expect: j.src.DiffID}
	if stage {
		un.staged, err = Stage(ctx, p.Snap, ra, uo)
	} else {
		un.newSnap = p.snapshotNew(ctx, j.chainID)
		un.u, err = Unpack(ctx, p.Snap, parent, ra, uo)
	}
	if cerr := izw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("compress index: %w", cerr)
	}
	if un.newSnap && un.u.ChainID != "" && opts.Undo != nil {
		opts.Undo.addSnapshot(un.u.ChainID.String())
	}
	if err == nil {
		un.idx = ocispec.Descriptor{MediaType: MediaTypeIndex, Digest: iw.Digest(), Size: iw.Offset()}
		err = p.commit(ctx, iw, un.idx.Size, un.idx.Digest, opts.Undo)
	}
	if err != nil {
		un.discard(ctx)
		return nil, err
	}
	return un, nil
}

// commit commits an ingest (size < 0 and want "" check nothing), noting a
// blob that was not there for undo.
func (p *Pipeline) commit(ctx context.Context, w *content.Writer, size int64, want digest.Digest, undo *Undo) error {
	dgst := w.Digest()
	_, infoErr := p.Content.Info(ctx, dgst)
	if err := w.Commit(ctx, size, want); err != nil {
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil
		}
		return err
	}
	if infoErr != nil && undo != nil {
		undo.addBlob(dgst)
	}
	return nil
}

// Undo records what Apply added to the store, so that a caller whose whole
// operation failed (a load) can take it away again: the store is then as
// it was. It is safe for concurrent use.
type Undo struct {
	mu     sync.Mutex
	blobs  []digest.Digest
	snaps  []string
	layers []layerUndo
}

type layerUndo struct {
	diffID digest.Digest
	old    *metadata.Layer // nil: there was no record
}

// AddBlob notes a blob the caller added (a config, a manifest).
func (u *Undo) AddBlob(dgst digest.Digest) { u.addBlob(dgst) }

func (u *Undo) addBlob(dgst digest.Digest) {
	u.mu.Lock()
	u.blobs = append(u.blobs, dgst)
	u.mu.Unlock()
}

func (u *Undo) addSnapshot(name string) {
	u.mu.Lock()
	u.snaps = append(u.snaps, name)
	u.mu.Unlock()
}

func (u *Undo) addLayer(tx *metadata.Tx, diffID digest.Digest) {
	lu := layerUndo{diffID: diffID}
	if old, err := tx.Layer(diffID); err == nil {
		lu.old = &old
	}
	u.mu.Lock()
	u.layers = append(u.layers, lu)
	u.mu.Unlock()
}

// Rollback removes what was added, newest first: records (or puts back
// the old ones), then snapshots, then blobs.
func (u *Undo) Rollback(ctx context.Context, p *Pipeline) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_ = p.DB.Update(ctx, func(tx *metadata.Tx) error {
		for i := len(u.layers) - 1; i >= 0; i-- {
			lu := u.layers[i]
			_ = tx.DeleteLayer(lu.diffID)
			if lu.old != nil {
				_ = tx.PutLayer(*lu.old)
			}
		}
		return nil
	})
	for i := len(u.snaps) - 1; i >= 0; i-- {
		_ = p.Snap.Remove(ctx, u.snaps[i])
	}
	for _, d := range u.blobs {
		_ = p.Content.Delete(ctx, d)
	}
}
