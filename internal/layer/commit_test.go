package layer

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/testutil"
)

// TestCommitActive: a filled active snapshot becomes its layer in place,
// committed under its chain ID, with its tar-split index (or its
// compressed blob) stored; a second snapshot with the same changes finds
// the chain's snapshot there and is removed; a read of the layer rebuilds
// the tar with the recorded diffID.
func TestCommitActive(t *testing.T) {
	testutil.RequiresRoot(t) // the native snapshotter bind-mounts
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts ActiveOptions
	}{
		{"indexed", ActiveOptions{}},
		{"gzip", ActiveOptions{Compress: true, Compression: archive.Gzip}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sn, err := native.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			p := newPipeline(t, sn)
			fill := func(key string) {
				mounts, err := sn.Prepare(ctx, key, "")
				if err != nil {
					t.Fatal(err)
				}
				err = WithMounted(ctx, mounts, func(root string) error {
					return os.WriteFile(filepath.Join(root, "f"), []byte("hello"), 0o644)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			commit := func(key string) (digest.Digest, digest.Digest) {
				diff, err := OpenDiff(ctx, sn, key)
				if err != nil {
					t.Fatal(err)
				}
				epoch := time.Unix(1e9, 0) // the same tar for the same changes
				write := func(w, index io.Writer) error {
					return diff.Write(ctx, w, archive.WriteOptions{Index: index, SourceDateEpoch: &epoch})
				}
				rec, err := p.CommitActive(ctx, key, "", write, tc.opts)
				if err != nil {
					t.Fatalf("CommitActive: %v", err)
				}
				if (rec.Index != nil) == tc.opts.Compress {
					t.Errorf("index %v with Compress %v", rec.Index, tc.opts.Compress)
				}
				if _, err := sn.Stat(ctx, key); !errdefs.IsNotFound(err) {
					t.Errorf("active snapshot %s after CommitActive: %v, want not found", key, err)
				}
				info, err := sn.Stat(ctx, rec.ChainID.String())
				if err != nil || info.Kind != snapshot.KindCommitted {
					t.Fatalf("chain snapshot %s: %+v, %v", rec.ChainID, info, err)
				}
				if err := p.DB.Update(ctx, func(tx *metadata.Tx) error { return tx.PutLayer(rec) }); err != nil {
					t.Fatal(err)
				}
				rc, err := p.Reader(ctx, rec.Blobs[0])
				if err != nil {
					t.Fatalf("read the layer: %v", err)
				}
				defer rc.Close()
				if _, err := io.Copy(io.Discard, rc); err != nil {
					t.Fatalf("read the layer: %v", err)
				}
				if err := rc.Close(); err != nil {
					t.Fatalf("read the layer: %v", err)
				}
				return rec.DiffID, rec.ChainID
			}
			fill("a")
			diffID, chainID := commit("a")
			if chainID != diffID || ChainID("", diffID) != diffID {
				t.Errorf("base layer chain ID %s, diffID %s", chainID, diffID)
			}
			fill("b")
			if d2, c2 := commit("b"); d2 != diffID || c2 != chainID {
				t.Errorf("same changes again: %s %s, want %s %s", d2, c2, diffID, chainID)
			}
		})
	}
}
