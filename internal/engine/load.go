package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/imagearchive"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/proc"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/verify"
)

// LoadOptions describe a `strata load`.
type LoadOptions struct {
	// Input is a docker save archive or an OCI layout (a tar, plain or
	// compressed, or a directory); "" or "-" reads Stdin.
	Input string
	Stdin io.Reader
	// Progress receives a "Loading layer" event per layer with the bytes
	// read of its file, as docker load shows them, and "Already exists"
	// for a layer the store has.
	Progress progress.Reporter
}

// Load reads the images of a docker save archive (old or new format) or an
// OCI layout into the store and names them. It returns, per image, its
// familiar name ("busybox:latest", one entry per name) or, for an image
// without a name, its ID ("sha256:…").
//
// Every manifest and config is read and verified before anything is
// stored. Each layer file is then read once: its raw bytes go into the
// content store as they are (hashed and checked against the descriptor or
// the digest the file is named by) while they are decompressed, checked
// against the config's diffID and unpacked into the layer's snapshot.
// Layers already in the store are not read. Names come last; if anything
// fails, the blobs, snapshots and layer records this load added are
// removed again and nothing is named.
//
// A plain archive file is read in place. Standard input and compressed
// archives are streamed when in Write's order (JSON first); otherwise
// (docker writes manifest.json after the layers) they are first
// decompressed into a temp file under the store's tmp/ directory.
func (e *Engine) Load(ctx context.Context, opts LoadOptions) ([]string, error) {
	what := opts.Input
	if what == "" || what == "-" {
		what = "standard input"
	}
	spoolDir := filepath.Join(e.root, "tmp")
	removeDeadSpools(spoolDir)
	a, err := imagearchive.Open(ctx, opts.Input, opts.Stdin, spoolDir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	defer a.Close()
	imgs, err := a.Images(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	unlock, err := e.lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	u := &loadUndo{}
	loaded, err := e.loadImages(ctx, a, imgs, u, opts.Progress)
	if err != nil {
		u.rollback(context.WithoutCancel(ctx), e)
		return nil, fmt.Errorf("load %s: %w; nothing was kept", what, err)
	}
	return loaded, nil
}

type loadedImage struct {
	names  []string
	target ocispec.Descriptor
	id     digest.Digest
}

func (e *Engine) loadImages(ctx context.Context, a *imagearchive.Archive, imgs []imagearchive.Image, u *loadUndo, rep progress.Reporter) ([]string, error) {
	stored := map[digest.Digest]ocispec.Descriptor{} // chain ID -> stored blob
	stage := layer.CanStage(e.Snap) && a.RandomAccess()
	var done []loadedImage
	for _, img := range imgs {
		var parent digest.Digest
		var descs []ocispec.Descriptor
		chainIDs := manifest.ChainIDs(img.Config.RootFS.DiffIDs)
		need := func(i int) bool {
			desc, ok := stored[chainIDs[i]]
			return !ok || (img.Layers[i].Desc.MediaType != "" && desc.Digest != img.Layers[i].Desc.Digest)
		}
		var reads []*layerRead
		if stage {
			var err error
			if reads, err = e.stageLayers(ctx, a, img.Layers, chainIDs, need, rep); err != nil {
				return nil, err
			}
		}
		for i, l := range img.Layers {
			desc := stored[chainIDs[i]]
			if need(i) {
				var err error
				if i < len(reads) && reads[i] != nil {
					desc, err = e.finishStaged(ctx, reads[i], parent, chainIDs[i], l, u)
					reads[i] = nil
				} else {
					desc, err = e.loadLayer(ctx, a, parent, chainIDs[i], l, u, rep)
				}
				if err != nil {
					for _, lr := range reads {
						if lr != nil {
							lr.close(ctx)
						}
					}
					return nil, fmt.Errorf("layer %d (%s): %w", i, l.Path, err)
				}
				stored[chainIDs[i]] = desc
			}
			descs = append(descs, desc)
			parent = chainIDs[i]
		}
		if err := u.writeBlob(ctx, e, img.ConfigBytes, img.ConfigDesc); err != nil {
			return nil, fmt.Errorf("config %s: %w", img.ConfigDesc.Digest, err)
		}
		target := img.ManifestDesc
		mb := img.ManifestBytes
		if mb == nil {
			if descs == nil {
				descs = []ocispec.Descriptor{}
			}
			mb = mustJSON(ocispec.Manifest{
				Versioned: specs.Versioned{SchemaVersion: 2},
				MediaType: ocispec.MediaTypeImageManifest,
				Config:    img.ConfigDesc,
				Layers:    descs,
			})
			target = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
		}
		if err := u.writeBlob(ctx, e, mb, target); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", target.Digest, err)
		}
		done = append(done, loadedImage{names: img.Names, target: target, id: img.ConfigDesc.Digest})
	}
	// Names last, all in one transaction.
	var out []string
	err := e.DB.Update(ctx, func(tx *metadata.Tx) error {
		out = out[:0]
		for _, d := range done {
			if len(d.names) == 0 {
				if targetNamed(tx, d.target.Digest) {
					out = append(out, d.id.String())
					continue
				}
				if err := putName(tx, untaggedPrefix+d.target.Digest.String(), d.target); err != nil {
					return err
				}
				out = append(out, d.id.String())
				continue
			}
			for _, n := range d.names {
				if err := putName(tx, n, d.target); err != nil {
					return err
				}
				out = append(out, images.Familiar(n))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadConcurrency bounds the layers of one image staged at once; each uses
// three goroutines (read, decompress, unpack).
const loadConcurrency = 2

// stageLayers reads and stages, loadConcurrency at once, the layers of an
// image that need loading and are not in the store, each into a snapshot of
// its own (layer.Stage), for loadImages to stack in chain order. A layer
// that cannot be staged (archive.ErrNeedsLower) gets no entry and is
// loaded onto its parent in its turn, as are those the store has. On error
// nothing staged is kept.
func (e *Engine) stageLayers(ctx context.Context, a *imagearchive.Archive, ls []imagearchive.Layer, chainIDs []digest.Digest, need func(int) bool, rep progress.Reporter) ([]*layerRead, error) {
	reads := make([]*layerRead, len(ls))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for i, l := range ls {
		if !need(i) {
			continue
		}
		if _, ok := e.haveLayer(ctx, chainIDs[i], l); ok {
			continue
		}
		g.Go(func() error {
			lr, err := e.readLayer(gctx, a, "", l, rep, true)
			if err != nil {
				if lr != nil {
					lr.close(ctx)
				}
				if errors.Is(err, archive.ErrNeedsLower) {
					return nil
				}
				return fmt.Errorf("layer %d (%s): %w", i, l.Path, err)
			}
			reads[i] = lr
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		for _, lr := range reads {
			if lr != nil {
				lr.close(ctx)
			}
		}
		return nil, err
	}
	return reads, nil
}

// loadLayer stores and unpacks one layer file on parent, unless the store
// already has its snapshot and a blob for it.
func (e *Engine) loadLayer(ctx context.Context, a *imagearchive.Archive, parent, chainID digest.Digest, l imagearchive.Layer, u *loadUndo, rep progress.Reporter) (ocispec.Descriptor, error) {
	if desc, ok := e.haveLayer(ctx, chainID, l); ok {
		rep.Report(progress.Event{ID: images.ShortID(l.DiffID), Action: "Already exists"})
		return desc, nil
	}
	oldRec := e.oldLayerRecord(ctx, l.DiffID)
	_, statErr := e.Snap.Stat(ctx, chainID.String())
	snapExisted := statErr == nil
	lr, err := e.readLayer(ctx, a, parent, l, rep, false)
	if lr != nil {
		defer lr.close(ctx)
	}
	if lr != nil && lr.un.ChainID != "" && !snapExisted {
		u.snaps = append(u.snaps, chainID.String())
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return e.finishLayer(ctx, lr, chainID, l, u, oldRec)
}

// finishStaged stacks a layer readLayer staged on parent, then stores it
// as loadLayer does.
func (e *Engine) finishStaged(ctx context.Context, lr *layerRead, parent, chainID digest.Digest, l imagearchive.Layer, u *loadUndo) (ocispec.Descriptor, error) {
	defer lr.close(ctx)
	oldRec := e.oldLayerRecord(ctx, l.DiffID)
	_, statErr := e.Snap.Stat(ctx, chainID.String())
	staged := lr.staged
	lr.staged = nil
	un, err := staged.Commit(ctx, parent)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if statErr != nil {
		u.snaps = append(u.snaps, chainID.String())
	}
	lr.un = un
	return e.finishLayer(ctx, lr, chainID, l, u, oldRec)
}

func (e *Engine) oldLayerRecord(ctx context.Context, diffID digest.Digest) *metadata.Layer {
	var rec *metadata.Layer
	_ = e.DB.View(ctx, func(tx *metadata.Tx) error {
		if r, err := tx.Layer(diffID); err == nil {
			rec = &r
		}
		return nil
	})
	return rec
}

// layerRead is a layer file read into ingests and unpacked (or staged),
// its blob and index not committed yet.
type layerRead struct {
	cw, iw *content.Writer
	comp   archive.Compression
	un     layer.Unpacked
	staged *layer.Staged
}

// close drops what was not committed.
func (lr *layerRead) close(ctx context.Context) {
	if lr.staged != nil {
		lr.staged.Discard(ctx)
		lr.staged = nil
	}
	lr.cw.Close()
	lr.iw.Close()
}

// readLayer reads a layer file once: its raw bytes into an ingest, its
// uncompressed tar checked against l.DiffID and unpacked onto parent, or
// with stage into a snapshot of its own (layer.Stage). On error the
// returned layerRead (if any) still has to be closed; its un.ChainID is
// set when the snapshot was committed.
func (e *Engine) readLayer(ctx context.Context, a *imagearchive.Archive, parent digest.Digest, l imagearchive.Layer, rep progress.Reporter, stage bool) (*layerRead, error) {
	rc, size, err := a.OpenLayer(l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	cw, err := e.Content.Writer(ctx, content.WriterOptions{})
	if err != nil {
		return nil, err
	}
	iw, err := e.Content.Writer(ctx, content.WriterOptions{})
	if err != nil {
		cw.Close()
		return nil, err
	}
	lr := &layerRead{cw: cw, iw: iw}
	izw, err := archive.Compress(iw, archive.Gzip, 0)
	if err != nil {
		return lr, err
	}

	// Three stages, so two cores stay busy: one goroutine reads the raw
	// file into the ingest (hashing it), one decompresses, and Unpack
	// hashes and applies what comes out. Errors reach Unpack through the
	// readers; if Unpack stops early the stages are stopped.
	c := progress.NewCounter(rep, images.ShortID(l.DiffID), "Loading layer", 0, size)
	raw := newReadahead(io.NopCloser(io.TeeReader(rc, io.MultiWriter(cw, c))), 4, 1<<20)
	dr, comp, err := archive.Decompress(raw)
	lr.comp = comp
	if err == nil {
		unz := newReadahead(dr, 4, 1<<20)
		opts := layer.UnpackOptions{Index: izw, Expect: l.DiffID}
		if stage {
			lr.staged, err = layer.Stage(ctx, e.Snap, unz, opts)
		} else {
			lr.un, err = layer.Unpack(ctx, e.Snap, parent, unz, opts)
		}
		unz.stopWait()
	}
	// The rest of the raw file (bytes after the end of the compressed
	// stream belong to the blob too, and after an error the digest tells
	// a corrupt file from a bad one) goes through the tee into the ingest.
	if _, derr := io.Copy(io.Discard, raw); err == nil && derr != nil {
		err = derr
	}
	raw.stopWait()
	c.Flush()
	if cerr := izw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("compress index: %w", cerr)
	}
	if err != nil && l.Desc.Digest != "" && cw.Digest() != l.Desc.Digest {
		// A layer that fails to unpack may simply be corrupt: say so
		// when its bytes are not what the archive names them.
		err = fmt.Errorf("%w (%v)", &verify.MismatchError{Want: l.Desc.Digest, Got: cw.Digest(), WantSize: -1}, err)
	}
	return lr, err
}

// finishLayer commits a layer's blob and index and records the layer.
func (e *Engine) finishLayer(ctx context.Context, lr *layerRead, chainID digest.Digest, l imagearchive.Layer, u *loadUndo, oldRec *metadata.Layer) (ocispec.Descriptor, error) {
	un := lr.un
	if un.ChainID != chainID {
		return ocispec.Descriptor{}, fmt.Errorf("chain ID %s, want %s: %w", un.ChainID, chainID, errdefs.ErrDataCorrupt)
	}
	mt := l.Desc.MediaType
	if mt == "" {
		mt = manifest.LayerMediaType(compressionName(lr.comp))
	}
	cw, iw := lr.cw, lr.iw
	desc := ocispec.Descriptor{MediaType: mt, Digest: cw.Digest(), Size: cw.Offset()}
	if err := u.commit(ctx, e, cw, desc, l.Desc.Size, l.Desc.Digest); err != nil {
		return ocispec.Descriptor{}, err
	}
	idx := ocispec.Descriptor{MediaType: MediaTypeTarSplit, Digest: iw.Digest(), Size: iw.Offset()}
	if err := u.commit(ctx, e, iw, idx, idx.Size, idx.Digest); err != nil {
		return ocispec.Descriptor{}, err
	}
	rec := metadata.Layer{DiffID: un.DiffID, ChainID: un.ChainID, Size: un.Size, Blobs: []ocispec.Descriptor{desc}, Index: &idx}
	u.layers = append(u.layers, layerUndo{diffID: un.DiffID, old: oldRec})
	if err := e.DB.Update(ctx, func(tx *metadata.Tx) error { return tx.PutLayer(rec) }); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// haveLayer reports whether the snapshot of chainID and a blob for the
// layer are already in the store, and which blob. For an OCI layout the
// blob must be the one its manifest names.
func (e *Engine) haveLayer(ctx context.Context, chainID digest.Digest, l imagearchive.Layer) (ocispec.Descriptor, bool) {
	if _, err := e.Snap.Stat(ctx, chainID.String()); err != nil {
		return ocispec.Descriptor{}, false
	}
	var rec metadata.Layer
	if err := e.DB.View(ctx, func(tx *metadata.Tx) error {
		var err error
		rec, err = tx.Layer(l.DiffID)
		return err
	}); err != nil {
		return ocispec.Descriptor{}, false
	}
	for _, b := range rec.Blobs {
		if l.Desc.MediaType != "" && b.Digest != l.Desc.Digest {
			continue
		}
		if info, err := e.Content.Info(ctx, b.Digest); err == nil && info.Size == b.Size {
			if l.Desc.MediaType != "" {
				return l.Desc, true
			}
			return b, true
		}
	}
	// A layer kept as its snapshot and tar-split index (a build's) has no
	// blob to find; the archive's uncompressed tar of it is that layer, and
	// storing it would keep a second copy.
	if rec.Index != nil && l.Desc.Digest == l.DiffID && l.Desc.Size == rec.Size &&
		(l.Desc.MediaType == "" || layer.Unstored(l.Desc, l.DiffID)) {
		if _, err := e.Content.Info(ctx, rec.Index.Digest); err == nil {
			return ocispec.Descriptor{MediaType: manifest.LayerMediaType(""), Digest: l.DiffID, Size: rec.Size}, true
		}
	}
	return ocispec.Descriptor{}, false
}

// loadUndo records what a load added, to take it away again if the load
// fails: the store is then as it was (content first, names last, and no
// name is ever written before every check passed).
type loadUndo struct {
	blobs  []digest.Digest
	snaps  []string
	layers []layerUndo
}

type layerUndo struct {
	diffID digest.Digest
	old    *metadata.Layer // nil: there was no record
}

// commit commits an ingest, checking size and digest when given, and
// records a blob that was not there before.
func (u *loadUndo) commit(ctx context.Context, e *Engine, w interface {
	Commit(context.Context, int64, digest.Digest) error
}, desc ocispec.Descriptor, size int64, want digest.Digest) error {
	_, infoErr := e.Content.Info(ctx, desc.Digest)
	if size <= 0 {
		size = -1
	}
	if err := w.Commit(ctx, size, want); err != nil {
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil
		}
		return err
	}
	if infoErr != nil {
		u.blobs = append(u.blobs, desc.Digest)
	}
	return nil
}

func (u *loadUndo) writeBlob(ctx context.Context, e *Engine, b []byte, desc ocispec.Descriptor) error {
	if _, err := e.Content.Info(ctx, desc.Digest); err == nil {
		return nil
	}
	if _, _, err := e.Content.WriteBlob(ctx, bytes.NewReader(b), desc.Size, desc.Digest); err != nil {
		return err
	}
	u.blobs = append(u.blobs, desc.Digest)
	return nil
}

func (u *loadUndo) rollback(ctx context.Context, e *Engine) {
	_ = e.DB.Update(ctx, func(tx *metadata.Tx) error {
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
		_ = e.Snap.Remove(ctx, u.snaps[i])
	}
	for _, d := range u.blobs {
		_ = e.Content.Delete(ctx, d)
	}
}

// removeDeadSpools removes archives spooled by loads whose process died.
func removeDeadSpools(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		rest, ok := strings.CutPrefix(ent.Name(), imagearchive.SpoolPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && !proc.Alive(pid) {
			os.Remove(filepath.Join(dir, ent.Name()))
		}
	}
}
