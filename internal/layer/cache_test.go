package layer

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/testutil"
)

// TestBlobCacheLRU brings in three base layers of 64 KiB of random bytes
// each under a budget that holds two blobs: the blob read first is
// evicted; a use (Touch, as push and save make) then saves the older of
// the two left, and the other goes when the budget is lowered; budget 0
// keeps none. The snapshots, indexes and records stay, and each evicted
// layer rebuilds to its diffID.
func TestBlobCacheLRU(t *testing.T) {
	ctx := context.Background()
	sn, err := native.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t, sn)
	var descs []digest.Digest
	var size int64 // the largest blob
	sizes := map[digest.Digest]int64{}
	for i := 0; i < 3; i++ {
		data := make([]byte, 64<<10)
		rand.Read(data)
		raw := testutil.NewTar().File("f", data, 0o644).Bytes()
		blob := gz(t, raw)
		size = max(size, int64(len(blob)))
		p.BlobCache = &BlobCache{Budget: 2*(64<<10) + 32<<10}
		res, err := p.Apply(ctx, sources([][]byte{blob}, []digest.Digest{digest.FromBytes(raw)}), Options{})
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, res[0].Desc.Digest)
		sizes[res[0].Desc.Digest] = int64(len(blob))
	}
	have := func() []digest.Digest {
		var out []digest.Digest
		for _, d := range descs {
			if _, err := p.Content.Info(ctx, d); err == nil {
				out = append(out, d)
			} else if !errdefs.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		return out
	}
	if diff := cmp.Diff(descs[1:], have()); diff != "" {
		t.Fatalf("after three layers under a two-blob budget, blobs (-want +got):\n%s", diff)
	}
	if err := p.Touch(ctx, descs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Trim(ctx, size+size/2); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(descs[1:2], have()); diff != "" {
		t.Fatalf("after using the older blob and trimming to one, blobs (-want +got):\n%s", diff)
	}
	cached, err := p.CachedBlobs(ctx)
	if err != nil || len(cached) != 1 || cached[0].Desc.Digest != descs[1] {
		t.Fatalf("CachedBlobs = %+v, %v; want only %s", cached, err, descs[1])
	}
	tr, err := p.Trim(ctx, 0)
	if err != nil || len(tr.Blobs) != 1 || tr.Bytes != sizes[descs[1]] {
		t.Fatalf("Trim(0) = %+v, %v; want the last blob, %d bytes", tr, err, sizes[descs[1]])
	}
	if got := have(); len(got) != 0 {
		t.Fatalf("budget 0 kept %v", got)
	}
	// The layers are still whole: rebuild each from snapshot and index.
	for _, d := range descs {
		var rec = mustRecordOf(t, p, d)
		if _, err := p.Rebuild(ctx, rec, archive.Gzip); err != nil {
			t.Errorf("rebuild layer of evicted blob %s: %v", d, err)
		}
	}
}

// mustRecordOf finds the record of the layer blob d names.
func mustRecordOf(t *testing.T, p *Pipeline, d digest.Digest) metadata.Layer {
	t.Helper()
	var out metadata.Layer
	err := p.DB.View(context.Background(), func(tx *metadata.Tx) error {
		ls, err := tx.Layers()
		for _, l := range ls {
			for _, b := range l.Blobs {
				if b.Digest == d {
					out = l
				}
			}
		}
		return err
	})
	if err != nil || out.DiffID == "" {
		t.Fatalf("no layer record has blob %s (%v)", d, err)
	}
	return out
}
