package layer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/testutil"
)

func newPipeline(t *testing.T, sn snapshot.Snapshotter) *Pipeline {
	t.Helper()
	dir := t.TempDir()
	cs, err := content.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.Open(filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &Pipeline{Content: cs, Snap: sn, DB: db}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// sources makes a Source per blob, opened from memory.
func sources(blobs [][]byte, diffIDs []digest.Digest) []Source {
	srcs := make([]Source, len(blobs))
	for i, b := range blobs {
		d := ocispec.Descriptor{MediaType: manifest.LayerMediaType("gzip"), Digest: digest.FromBytes(b), Size: int64(len(b))}
		srcs[i] = Source{
			Desc: d, DiffID: diffIDs[i], Name: d.Digest.String(), ID: d.Digest.Encoded()[:12],
			Open: func(_ context.Context, off int64) (io.ReadCloser, int64, int64, error) {
				return io.NopCloser(bytes.NewReader(b[off:])), off, 0, nil
			},
		}
	}
	return srcs
}

// TestPipelineApply brings the chain of stageLayers in on overlay (staged
// at once, or in order) and on native (each onto a copy of its parent):
// the same files as unpacking layer by layer, the blobs and indexes
// stored, a record per layer, nothing left active; a second run reads
// nothing.
func TestPipelineApply(t *testing.T) {
	ctx := context.Background()
	raw := stageLayers()
	var blobs [][]byte
	var diffIDs []digest.Digest
	for _, l := range raw {
		blobs = append(blobs, gz(t, l))
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	chains := manifest.ChainIDs(diffIDs)

	serial := newOverlay(t)
	var parent digest.Digest
	for i, l := range raw {
		u, err := Unpack(ctx, serial, parent, bytes.NewReader(l), UnpackOptions{})
		if err != nil {
			t.Fatalf("Unpack layer %d: %v", i, err)
		}
		parent = u.ChainID
	}
	want := viewTree(t, serial, parent)

	for _, tc := range []struct {
		name    string
		sn      func(t *testing.T) snapshot.Snapshotter
		inOrder bool
	}{
		{"overlay", func(t *testing.T) snapshot.Snapshotter { return newOverlay(t) }, false},
		{"overlay in order", func(t *testing.T) snapshot.Snapshotter { return newOverlay(t) }, true},
		{"native", func(t *testing.T) snapshot.Snapshotter {
			sn, err := native.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return sn
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sn := tc.sn(t)
			p := newPipeline(t, sn)
			res, err := p.Apply(ctx, sources(blobs, diffIDs), Options{InOrder: tc.inOrder, Repository: "example.com/app"})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.ChainID != chains[i] || r.DiffID != diffIDs[i] || r.Desc.Digest != digest.FromBytes(blobs[i]) || r.Skipped {
					t.Errorf("layer %d: %+v, want chain %s", i, r, chains[i])
				}
				if _, err := p.Content.Info(ctx, r.Desc.Digest); err != nil {
					t.Errorf("layer %d: blob: %v", i, err)
				}
				rec, ok := Record(ctx, p.DB, diffIDs[i])
				if !ok || rec.ChainID != chains[i] || rec.Index == nil || len(rec.Blobs) != 1 ||
					rec.Size != int64(len(raw[i])) || !cmp.Equal(BlobRepos(rec.Blobs[0]), []string{"example.com/app"}) {
					t.Errorf("layer %d: record %+v", i, rec)
					continue
				}
				if _, err := p.Content.Info(ctx, rec.Index.Digest); err != nil {
					t.Errorf("layer %d: index: %v", i, err)
				}
			}
			if diff := cmp.Diff(want, viewTree(t, sn, chains[len(chains)-1])); diff != "" {
				t.Errorf("files differ from unpacking layer by layer (-want +got):\n%s", diff)
			}
			assertNoActive(t, sn)

			srcs := sources(blobs, diffIDs)
			for i := range srcs {
				srcs[i].Open = func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
					t.Errorf("layer %d read again", i)
					return nil, 0, 0, errors.New("read again")
				}
			}
			res, err = p.Apply(ctx, srcs, Options{KeepBlob: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if !r.Skipped {
					t.Errorf("layer %d not skipped", i)
				}
			}
		})
	}
}

// TestPipelineUndo: a chain whose top blob is corrupt fails with a
// data-corrupt error naming it, and Rollback leaves the store as it was.
func TestPipelineUndo(t *testing.T) {
	ctx := context.Background()
	sn, err := native.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, sn)
	a := testutil.NewTar().File("a", []byte("a"), 0o644).Bytes()
	b := testutil.NewTar().File("b", bytes.Repeat([]byte("b"), 1<<16), 0o644).Bytes()
	blobs := [][]byte{gz(t, a), gz(t, b)}
	srcs := sources(blobs, []digest.Digest{digest.FromBytes(a), digest.FromBytes(b)})
	bad := bytes.Clone(blobs[1])
	bad[len(bad)/2] ^= 0xff
	srcs[1].Open = func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		return io.NopCloser(bytes.NewReader(bad)), 0, 0, nil
	}
	var u Undo
	_, err = p.Apply(ctx, srcs, Options{Undo: &u, InOrder: true, Origin: "the test"})
	if !errors.Is(err, errdefs.ErrDataCorrupt) {
		t.Fatalf("Apply = %v, want data corrupt", err)
	}
	u.Rollback(ctx, p)
	var left []string
	_ = p.Content.Walk(ctx, func(i content.Info) error { left = append(left, i.Digest.String()); return nil })
	_ = sn.Walk(ctx, func(_ context.Context, i snapshot.Info) error { left = append(left, i.Name); return nil })
	_ = p.DB.View(ctx, func(tx *metadata.Tx) error {
		ls, _ := tx.Layers()
		for _, l := range ls {
			left = append(left, "record "+l.DiffID.String())
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("left after Rollback: %v", left)
	}
}

// TestPipelineCompress: a new layer (no diffID given) read as a plain tar
// is stored compressed, unpacked on its parent, and its diffID learnt.
func TestPipelineCompress(t *testing.T) {
	ctx := context.Background()
	sn, err := native.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, sn)
	base := testutil.NewTar().File("a", []byte("a"), 0o644).Bytes()
	res, err := p.Apply(ctx, sources([][]byte{gz(t, base)}, []digest.Digest{digest.FromBytes(base)}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	top := testutil.NewTar().File("b", []byte("b"), 0o644).Bytes()
	src := Source{Open: func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		return io.NopCloser(bytes.NewReader(top)), 0, 0, nil
	}}
	got, err := p.Apply(ctx, []Source{src}, Options{Parent: res[0].ChainID, Compress: true, Compression: archive.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.DiffID != digest.FromBytes(top) || r.ChainID != manifest.ChainIDs([]digest.Digest{res[0].DiffID, r.DiffID})[1] || r.Desc.MediaType != MediaType(archive.Zstd) {
		t.Errorf("result %+v", r)
	}
	rc, err := p.Content.Reader(ctx, r.Desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, comp, err := archive.Decompress(rc)
	if err != nil || comp != archive.Zstd {
		t.Fatalf("stored blob: %v, %v", comp, err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, top) {
		t.Errorf("stored blob does not decompress to the tar")
	}
	files := viewTree(t, sn, r.ChainID)
	if _, ok := files["a"]; !ok {
		t.Errorf("parent's file missing: %v", files)
	}
	if _, ok := files["b"]; !ok {
		t.Errorf("new file missing: %v", files)
	}
}
