package build

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
)

// stepInputs identify a step across builds (its stage and text) and what
// it saw, so a miss can say what changed.
type stepInputs struct {
	id digest.Digest
	in cache.Inputs
	// pruneUpper, when set, tidies an overlay upper dir after the step's
	// unmount and before its diff (RUN --mount's mount points).
	pruneUpper func(upper string) error
	// reuse, for a COPY from the context, links unchanged files from the
	// layer the step made last time (see reuse.go).
	reuse *reuse
}

func (b *builder) stepID(s *state, createdBy string) digest.Digest {
	return cache.Key("", "step", b.opts.ContextDir, b.df.Name, s.name, createdBy)
}

// fsStep runs a step that changes files: from the cache when key has a
// record whose layer is still there, else by running mutate on a new
// snapshot over the stage's top layer and storing the snapshot's diff as
// a layer. A step that changed nothing still makes a layer (an empty tar),
// as BuildKit's RUN, COPY and WORKDIR do: the image has as many layers.
func (b *builder) fsStep(ctx context.Context, s *state, in Instruction, log *stepLog, key digest.Digest, createdBy string, inp *stepInputs, mutate func(ctx context.Context, root string) error) error {
	if !b.opts.NoCache {
		// An empty record is an older Strata's step that changed nothing
		// and made no layer; this one makes one, so it runs again.
		if rec, ok := b.lookup(ctx, s, key); ok && !rec.Empty {
			b.apply(s, rec, createdBy)
			b.use(key)
			log.cached(rec.DiffID.String())
			return nil
		}
	}
	log.miss(b.missReason(ctx, s, inp))
	s.missed = true
	rec, err := b.execute(ctx, s, s.chainID, key, inp, false, mutate)
	if err != nil {
		log.failed(err)
		return err
	}
	b.apply(s, rec, createdBy)
	log.done()
	return nil
}

// lookup returns the cache record of key if its layer is still usable.
func (b *builder) lookup(ctx context.Context, s *state, key digest.Digest) (cache.Record, bool) {
	rec, ok, err := b.cache.Get(ctx, key)
	if err != nil || !ok {
		return rec, false
	}
	if rec.Empty {
		return rec, true
	}
	if want := layer.ChainID(s.chainID, rec.DiffID); want != rec.ChainID {
		return rec, false
	}
	return rec, b.usable(ctx, rec)
}

// usable says whether a record's snapshot and its blob (or the index it is
// rebuilt with) are still in the store.
func (b *builder) usable(ctx context.Context, rec cache.Record) bool {
	if _, err := b.be.Snap.Stat(ctx, rec.ChainID.String()); err != nil {
		return false
	}
	blob := rec.Blob.Digest
	if rec.Index != nil && layer.Unstored(rec.Blob, rec.DiffID) {
		blob = rec.Index.Digest // the layer is rebuilt from its snapshot with it
	}
	_, err := b.be.Content.Info(ctx, blob)
	return err == nil
}

// apply adds a step's result to the stage. The key chain takes the layer's
// content, so a step rerun with a different result changes every key after
// it.
func (b *builder) apply(s *state, rec cache.Record, createdBy string) {
	s.key = cache.Key(rec.Key, "result", rec.DiffID.String())
	at := rec.Created
	if b.opts.SourceDateEpoch != nil {
		at = b.opts.SourceDateEpoch.UTC()
	}
	if rec.Empty {
		b.addHistory(s, createdBy, true, at)
		return
	}
	s.layers = append(s.layers, rec.Blob)
	s.img.RootFS.DiffIDs = append(s.img.RootFS.DiffIDs, rec.DiffID)
	s.chainID = rec.ChainID
	b.addHistory(s, createdBy, false, at)
}

func (b *builder) missReason(ctx context.Context, s *state, inp *stepInputs) string {
	switch {
	case b.opts.NoCache:
		return "--no-cache"
	case s.missed:
		return "an earlier step changed"
	case inp == nil:
		return "no cache entry for this step"
	}
	last, ok, err := b.cache.GetInputs(ctx, inp.id)
	if err != nil || !ok {
		return "no cache entry for this step (first build)"
	}
	for _, k := range slices.Sorted(maps.Keys(inp.in.Files)) {
		old, ok := last.Files[k]
		if !ok {
			return fmt.Sprintf("file %s was added", k)
		}
		if old != inp.in.Files[k] {
			return fmt.Sprintf("file %s changed", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(last.Files)) {
		if _, ok := inp.in.Files[k]; !ok {
			return fmt.Sprintf("file %s was removed", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(inp.in.Args)) {
		if old, ok := last.Args[k]; !ok || old != inp.in.Args[k] {
			return fmt.Sprintf("build arg %s changed (%q, was %q)", k, inp.in.Args[k], old)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(last.Args)) {
		if _, ok := inp.in.Args[k]; !ok {
			return fmt.Sprintf("build arg %s is no longer set", k)
		}
	}
	return "the cached layer is gone (pruned)"
}

func (b *builder) writeOptions() archive.WriteOptions {
	return archive.WriteOptions{SourceDateEpoch: b.opts.SourceDateEpoch, Shared: b.be.SharedInodes}
}

// execute runs mutate on a new snapshot over parent (s.chainID, or "" for
// a linked COPY's empty tree) and stores the snapshot's diff as a layer,
// committing the snapshot under its chain ID. With tarTimes the snapshot's
// entries first get the mtimes the layer's tar records (a linked step's,
// whose other copies are unpacked from that tar). On any failure, or a
// cancelled ctx, the snapshot is removed.
func (b *builder) execute(ctx context.Context, s *state, parent, key digest.Digest, inp *stepInputs, tarTimes bool, mutate func(ctx context.Context, root string) error) (cache.Record, error) {
	rec := cache.Record{Key: key, Created: b.created()}
	skey := layer.ExtractKey()
	mounts, err := b.be.Snap.Prepare(ctx, skey, parent.String())
	if err != nil {
		return rec, fmt.Errorf("prepare snapshot: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = b.be.Snap.Remove(context.WithoutCancel(ctx), skey)
		}
	}()
	// The step's overlay is mounted once and committed or removed right
	// after, so it is mounted volatile: its unmount does not sync the whole
	// filesystem. The build syncs once before it writes the records that
	// point at its snapshots (flush).
	for i := range mounts {
		if mounts[i].Type == "overlay" && hasUpper(mounts[i].Options) {
			mounts[i].Options = append(mounts[i].Options, "volatile")
		}
	}
	if err := layer.WithMounted(ctx, mounts, func(root string) error { return mutate(ctx, root) }); err != nil {
		return rec, err
	}
	if err := ctx.Err(); err != nil {
		return rec, err
	}
	diff, err := layer.OpenDiff(ctx, b.be.Snap, skey)
	if err != nil {
		return rec, err
	}
	upper := diff.Upper
	if inp != nil && inp.reuse != nil {
		if _, err := inp.reuse.finish(ctx, upper); err != nil {
			return rec, err
		}
	}
	if b.be.Driver == "overlay" && inp != nil && inp.pruneUpper != nil {
		if err := inp.pruneUpper(upper); err != nil {
			return rec, err
		}
	}
	if tarTimes {
		if err := archive.SetTarTimes(ctx, upper, b.writeOptions()); err != nil {
			return rec, err
		}
	}
	o := b.writeOptions()
	write := func(w, index io.Writer) error {
		o.Index = index
		return diff.Write(ctx, w, o)
	}
	if b.be.Driver == "overlay" {
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { prefetch(pctx, upper); close(done) }()
		defer func() { stop(); <-done }()
	}
	// With StoreBlobs the layer is compressed into the store; by default
	// only its tar-split index is stored, and its descriptor names its
	// uncompressed tar, rebuilt from the snapshot when pushed or saved.
	lrec, err := b.layers().CommitActive(ctx, skey, parent, write, layer.ActiveOptions{Compress: b.opts.StoreBlobs, Compression: b.opts.Compression})
	if err != nil {
		return rec, err
	}
	committed = true // the chain's snapshot now, or removed for the one there already
	rec.ChainID, rec.DiffID, rec.Blob, rec.Size, rec.Index = lrec.ChainID, lrec.DiffID, lrec.Blobs[0], lrec.Size, lrec.Index
	if inp != nil && inp.reuse != nil {
		inp.reuse.recordInputs(&inp.in)
		inp.in.Layer = lrec.ChainID
	}
	b.queue(rec, inp, &lrec, upper)
	return rec, nil
}

// layers is the layer pipeline over the build's stores.
func (b *builder) layers() *layer.Pipeline {
	return &layer.Pipeline{Content: b.be.Content, Snap: b.be.Snap, DB: b.be.DB}
}

func hasUpper(opts []string) bool {
	for _, o := range opts {
		if strings.HasPrefix(o, "upperdir=") {
			return true
		}
	}
	return false
}

// doneStep is a finished step whose records are written by flush.
type doneStep struct {
	rec   cache.Record
	inp   *stepInputs
	layer *metadata.Layer
}

func (b *builder) queue(rec cache.Record, inp *stepInputs, lrec *metadata.Layer, upper string) {
	b.usedMu.Lock()
	defer b.usedMu.Unlock()
	b.steps = append(b.steps, doneStep{rec: rec, inp: inp, layer: lrec})
	if upper != "" && b.syncDir == "" {
		b.syncDir = upper
	}
}

// flush makes the build's new snapshots durable with one syncfs, then
// writes every finished step's layer record, cache record and inputs, the
// config-only steps' records, and the use times of cache hits and cache
// mounts, in one commit. It runs whether or not the build failed:
// finished steps stay cached, and a failed RUN used its cache mounts too.
func (b *builder) flush(ctx context.Context) error {
	b.usedMu.Lock()
	steps, pending, used, syncDir, mounts, linked := b.steps, b.pending, b.used, b.syncDir, b.mountUses, b.linked
	b.steps, b.pending, b.used, b.mountUses, b.linked = nil, nil, nil, nil, nil
	b.usedMu.Unlock()
	if len(steps) == 0 && len(pending) == 0 && len(used) == 0 && len(mounts) == 0 && len(linked) == 0 {
		return nil
	}
	if syncDir != "" {
		if err := syncFS(syncDir); err != nil {
			return fmt.Errorf("sync build snapshots: %w", err)
		}
	}
	return b.be.DB.Update(ctx, func(tx *metadata.Tx) error {
		for _, st := range steps {
			if st.layer != nil {
				if err := tx.PutLayer(*st.layer); err != nil {
					return err
				}
			}
			var id digest.Digest
			var in *cache.Inputs
			if st.inp != nil {
				id, in = st.inp.id, &st.inp.in
			}
			if err := cache.PutTx(tx, st.rec, id, in); err != nil {
				return err
			}
		}
		for _, l := range linked {
			if err := tx.PutLayer(l); err != nil {
				return err
			}
		}
		for _, rec := range pending {
			if err := cache.PutTx(tx, rec, "", nil); err != nil {
				return err
			}
		}
		if err := cache.TouchMountsTx(tx, mounts); err != nil {
			return err
		}
		return cache.TouchTx(tx, used)
	})
}

// syncFS syncs the filesystem holding dir (or its nearest existing
// parent: a step snapshot that lost a commit race is gone).
func syncFS(dir string) error {
	for {
		f, err := os.Open(dir)
		if err == nil {
			defer f.Close()
			return unix.Syncfs(int(f.Fd()))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		dir = parent
	}
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// withView mounts a read-only view of the committed snapshot chainID ("" for
// an empty tree) for fn.
func (b *builder) withView(ctx context.Context, chainID digest.Digest, fn func(root string) error) error {
	key := layer.ExtractKey() // a dead process's views are cleaned up as its extracts are
	mounts, err := b.be.Snap.View(ctx, key, chainID.String())
	if err != nil {
		return fmt.Errorf("view %s: %w", chainID, err)
	}
	defer b.be.Snap.Remove(context.WithoutCancel(ctx), key)
	return layer.WithMounted(ctx, mounts, fn)
}
