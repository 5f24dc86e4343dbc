package registry

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// age makes everything in the registry look older than it is, so that a
// test can step past the grace window without sleeping.
func age(t *testing.T, g *Registry, d time.Duration) {
	t.Helper()
	err := g.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRepos).ForEach(func(name, _ []byte) error {
			b := tx.Bucket(bucketRepos).Bucket(name)
			blobs := b.Bucket(bucketBlobs)
			var keys [][]byte
			_ = blobs.ForEach(func(k, _ []byte) error { keys = append(keys, k); return nil })
			for _, k := range keys {
				if err := blobs.Put(k, encodeTime(time.Now().Add(-d))); err != nil {
					return err
				}
			}
			ms := b.Bucket(bucketManifests)
			keys = nil
			_ = ms.ForEach(func(k, _ []byte) error { keys = append(keys, k); return nil })
			for _, k := range keys {
				rec, err := getManifest(tx, string(name), digest.Digest(k))
				if err != nil {
					return err
				}
				rec.Created = rec.Created.Add(-d)
				if err := ms.Put(k, mustJSON(rec)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d0 := range storeBlobs(t, g) {
		p, _ := g.store.BlobPath(d0)
		old := time.Now().Add(-d)
		if err := chtimes(p, old); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGC(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	img, imgDgst := testImage(t, srv, "app", []byte("kept layer"), nil)
	putManifest(t, srv, "app", "v1", img)
	sig, sigDgst := testImage(t, srv, "app", []byte("signature"), func(m *ocispec.Manifest) {
		m.Subject = &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: imgDgst, Size: int64(len(img))}
	})
	putManifest(t, srv, "app", sigDgst.String(), sig)
	old, oldDgst := testImage(t, srv, "app", []byte("dropped layer"), nil)
	putManifest(t, srv, "app", oldDgst.String(), old) // untagged
	stray := pushBlob(t, srv, "app", []byte("never referenced"))
	age(t, g, 2*time.Hour)
	// Pushed within the window: must survive whatever references it.
	fresh := pushBlob(t, srv, "app", []byte("uploaded just now"))

	before := storeBlobs(t, g)
	var out strings.Builder
	st, err := g.GC(context.Background(), GCOptions{DryRun: true, Grace: time.Hour, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, storeBlobs(t, g)); diff != "" {
		t.Fatalf("dry run deleted blobs (-before +after)\n%s", diff)
	}
	if st.Manifests != 1 || st.Blobs != 3 { // old manifest, its layer, and the stray blob
		t.Fatalf("dry run stats %+v\n%s", st, out.String())
	}
	if !strings.Contains(out.String(), "would delete blob "+stray.String()) {
		t.Errorf("dry run output lacks the stray blob:\n%s", out.String())
	}

	if _, err := g.GC(context.Background(), GCOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	after := storeBlobs(t, g)
	for _, d := range []digest.Digest{stray, oldDgst, digest.FromBytes([]byte("dropped layer"))} {
		if slices.Contains(after, d) {
			t.Errorf("%s survived GC", d)
		}
	}
	for _, d := range []digest.Digest{imgDgst, sigDgst, fresh, digest.FromBytes([]byte("kept layer")), digest.FromBytes([]byte("signature"))} {
		if !slices.Contains(after, d) {
			t.Errorf("%s was collected", d)
		}
	}
	if r := do(t, srv, req{method: "GET", path: "/v2/app/manifests/" + oldDgst.String()}); r.status != http.StatusNotFound {
		t.Errorf("untagged manifest still served: %d", r.status)
	}
	if r := do(t, srv, req{method: "GET", path: "/v2/app/manifests/v1"}); r.status != http.StatusOK {
		t.Errorf("tagged manifest gone: %d", r.status)
	}
	if err := g.Fsck(context.Background(), nil); err != nil {
		t.Fatalf("fsck after GC: %v", err)
	}
}

func TestGCAdminEndpoint(t *testing.T) {
	_, srv := newTestRegistry(t, Options{})
	pushBlob(t, srv, "app", []byte("x"))
	r := do(t, srv, req{method: "POST", path: "/strata/v1/gc?dry-run=1&grace=1ns&force=1"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "would delete") {
		t.Fatalf("admin gc: %d %s", r.status, r.body)
	}
	r = do(t, srv, req{method: "POST", path: "/strata/v1/fsck"})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "ok") {
		t.Fatalf("admin fsck: %d %s", r.status, r.body)
	}
}

func TestFsckFindsCorruption(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	dgst := pushBlob(t, srv, "app", []byte("precious"))
	p, _ := g.store.BlobPath(dgst)
	if err := overwrite(p, []byte("corrupt!")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := g.Fsck(context.Background(), &out); err == nil || !strings.Contains(out.String(), "corrupt blob "+dgst.String()) {
		t.Fatalf("fsck: %v\n%s", err, out.String())
	}
}

// TestGCWhilePushing runs GC in a loop with a short grace window while
// clients push images and untag older ones: untagged images are collected
// as it goes, a manifest put may be refused only with
// MANIFEST_BLOB_UNKNOWN (its blobs went stale first), and no accepted,
// tagged manifest ever points at a missing blob.
func TestGCWhilePushing(t *testing.T) {
	g, srv := newTestRegistry(t, Options{AccessPolicy: AccessPolicy{Delete: true}})
	const grace = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	gcDone := make(chan struct{})
	go func() { // ends when the pushes are over
		defer close(gcDone)
		for ctx.Err() == nil {
			if _, err := g.GC(ctx, GCOptions{Grace: grace}); err != nil && ctx.Err() == nil {
				t.Errorf("GC: %v", err)
			}
			time.Sleep(time.Millisecond) // GC passes paced, not synchronised: they run until the pushes end
		}
	}()
	accepted := 0
	for i := range 30 {
		img, _ := testImage(t, srv, "app", []byte(fmt.Sprintf("layer %d", i)), nil)
		r := putManifest(t, srv, "app", fmt.Sprintf("v%d", i), img)
		switch {
		case r.status == http.StatusCreated:
			accepted++
		case r.status == http.StatusBadRequest && errCode(r.body) == "MANIFEST_BLOB_UNKNOWN":
		default:
			t.Fatalf("put %d: %d %s", i, r.status, r.body)
		}
		if i >= 3 {
			do(t, srv, req{method: "DELETE", path: fmt.Sprintf("/v2/app/manifests/v%d", i-3)})
		}
		time.Sleep(10 * time.Millisecond) // pushes spread over many GC passes: what is tested
	}
	time.Sleep(2 * grace) // the grace period passing is what is tested
	cancel()
	<-gcDone
	if _, err := g.GC(context.Background(), GCOptions{Grace: grace}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := g.Fsck(context.Background(), &out); err != nil {
		t.Fatalf("fsck: %v\n%s", err, out.String())
	}
	if accepted < 25 {
		t.Errorf("only %d of 30 manifests accepted", accepted)
	}
	// What is left: the last three images (config + layer + manifest
	// each); the config is shared by all.
	if n := len(storeBlobs(t, g)); n != 7 {
		t.Errorf("%d blobs left, want 7", n)
	}
	for i := 27; i < 30; i++ {
		if r := do(t, srv, req{method: "GET", path: fmt.Sprintf("/v2/app/manifests/v%d", i)}); r.status != http.StatusOK {
			t.Errorf("v%d: %d", i, r.status)
		}
	}
}
