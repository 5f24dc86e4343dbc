package layer

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/snapshot/filepool"
	"github.com/strata-project/strata/internal/snapshot/overlay"
)

// TestUnpackPoolsNotedFiles: on overlay with a file pool, the files of
// layers unpacked onto their parents (Unpack, through an overlay mount)
// and staged on their own (Stage) are pooled at commit from the digests
// noted as they were written, including the files the layer writes twice,
// hard-links or removes again: the trees are what a store without a pool
// has, and every pool entry holds what its key says (Check re-hashes).
func TestUnpackPoolsNotedFiles(t *testing.T) {
	ctx := context.Background()
	layers := stageLayers()
	plain := newOverlay(t)
	want := unpackChain(t, plain, layers)
	wantTree := viewTree(t, plain, want)

	withPool := func(t *testing.T) (*filepool.Pool, *overlay.Snapshotter) {
		sn := newOverlay(t)
		p, err := filepool.Open(filepath.Join(t.TempDir(), "files"))
		if err != nil {
			t.Fatal(err)
		}
		sn.Pool = p
		return p, sn
	}
	check := func(t *testing.T, p *filepool.Pool, sn *overlay.Snapshotter, top digest.Digest) {
		t.Helper()
		if top != want {
			t.Fatalf("chain %s, want %s", top, want)
		}
		if diff := cmp.Diff(wantTree, viewTree(t, sn, top)); diff != "" {
			t.Errorf("tree with a pool differs (-without +with):\n%s", diff)
		}
		probs, _, err := p.Check(ctx)
		if err != nil || len(probs) > 0 {
			t.Errorf("pool check: %q %v", probs, err)
		}
		if u, err := p.Usage(ctx); err != nil || u.Files < 200 {
			t.Errorf("pool usage %+v %v, want the layers' files in it", u, err)
		}
	}

	t.Run("unpack", func(t *testing.T) {
		p, sn := withPool(t)
		check(t, p, sn, unpackChain(t, sn, layers))
	})
	t.Run("stage", func(t *testing.T) {
		p, sn := withPool(t)
		var top digest.Digest
		for i, l := range layers {
			s, err := Stage(ctx, sn, bytes.NewReader(l), UnpackOptions{})
			if err != nil {
				t.Fatalf("Stage layer %d: %v", i, err)
			}
			u, err := s.Commit(ctx, top)
			if err != nil {
				t.Fatalf("Commit layer %d: %v", i, err)
			}
			top = u.ChainID
		}
		check(t, p, sn, top)
	})
}
