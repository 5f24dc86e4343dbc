package backendtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// Put of a blob already stored is success (nil or ErrAlreadyExists).

// Open returns fresh, empty back ends for one test; they are closed by the
// test's clean-up.
type Open func(t *testing.T) (backend.Blobs, backend.Meta)

// Run runs the whole suite.
func Run(t *testing.T, open Open) {
	t.Run("Blobs", func(t *testing.T) { runBlobs(t, open) })
	t.Run("Meta", func(t *testing.T) { runMeta(t, open) })
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, bs backend.Blobs, dgst digest.Digest) []byte {
	t.Helper()
	f, err := bs.Open(context.Background(), dgst)
	if err != nil {
		t.Fatalf("open %s: %v", dgst, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", dgst, err)
	}
	if int64(len(b)) != f.Size() {
		t.Fatalf("read %d bytes, Size says %d", len(b), f.Size())
	}
	return b
}

func walk(t *testing.T, bs backend.Blobs) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	if err := bs.Walk(context.Background(), func(i backend.BlobInfo) error { out = append(out, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func runBlobs(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("PutStatOpenRanges", func(t *testing.T) {
		bs, _ := open(t)
		for _, n := range []int{0, 1000, 9 << 20} {
			data := randomBytes(t, n)
			dgst := digest.FromBytes(data)
			if err := bs.Put(ctx, dgst, int64(n), bytes.NewReader(data)); err != nil {
				t.Fatalf("put %d bytes: %v", n, err)
			}
			info, err := bs.Stat(ctx, dgst)
			if err != nil || info.Size != int64(n) || info.Digest != dgst {
				t.Fatalf("stat: %+v %v", info, err)
			}
			if time.Since(info.ModTime) > time.Hour || time.Until(info.ModTime) > time.Minute {
				t.Fatalf("mod time %v is not now", info.ModTime)
			}
			if got := readAll(t, bs, dgst); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes differ", n)
			}
			if n == 0 {
				continue
			}
			f, err := bs.Open(ctx, dgst)
			if err != nil {
				t.Fatal(err)
			}
			off := int64(n / 3)
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			part := make([]byte, 100)
			if _, err := io.ReadFull(f, part); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(part, data[off:off+100]) {
				t.Fatal("ranged read differs")
			}
			if end, err := f.Seek(0, io.SeekEnd); err != nil || end != int64(n) {
				t.Fatalf("seek end: %d %v", end, err)
			}
			f.Close()
			if err := bs.Put(ctx, dgst, int64(n), bytes.NewReader(data)); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
				t.Fatalf("second put: %v, want success or ErrAlreadyExists", err)
			}
			if err := bs.Put(ctx, dgst, int64(n), bytes.NewReader(make([]byte, n))); n > 0 && !errors.Is(err, errdefs.ErrDataCorrupt) {
				t.Fatalf("second put of other bytes: %v, want ErrDataCorrupt", err)
			}
		}
	})
	t.Run("PutMismatchKeepsNothing", func(t *testing.T) {
		bs, _ := open(t)
		for _, n := range []int{10, 9 << 20} {
			data := randomBytes(t, n)
			wrong := digest.FromString("something else")
			if err := bs.Put(ctx, wrong, int64(n), bytes.NewReader(data)); !errors.Is(err, errdefs.ErrDataCorrupt) {
				t.Fatalf("put of %d bytes under a wrong digest: %v, want ErrDataCorrupt", n, err)
			}
			if _, err := bs.Stat(ctx, wrong); !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("stat after a mismatch: %v", err)
			}
		}
		if got := walk(t, bs); len(got) != 0 {
			t.Fatalf("walk after failed puts: %v", got)
		}
	})
	t.Run("SessionResumesAndIsInvisibleUntilCommit", func(t *testing.T) {
		bs, _ := open(t)
		// Chunks of mixed sizes: small, over S3's 5 MiB part minimum,
		// small again, over the store's chunk size.
		pieces := [][]byte{randomBytes(t, 1000), randomBytes(t, 6<<20), randomBytes(t, 100), randomBytes(t, 9<<20), randomBytes(t, 7)}
		all := bytes.Join(pieces, nil)
		dgst := digest.FromBytes(all)
		var state []byte
		for i, p := range pieces {
			w, err := bs.Writer(ctx, "sess1", digest.SHA256, state)
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
			if _, err := w.Write(p); err != nil {
				t.Fatal(err)
			}
			if state, err = w.State(ctx); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := bs.Stat(ctx, dgst); !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("blob visible before commit: %v", err)
			}
		}
		if got := walk(t, bs); len(got) != 0 {
			t.Fatalf("walk lists staged bytes: %v", got)
		}
		w, err := bs.Writer(ctx, "sess1", digest.SHA256, state)
		if err != nil {
			t.Fatal(err)
		}
		if w.Offset() != int64(len(all)) {
			t.Fatalf("resumed offset %d, want %d", w.Offset(), len(all))
		}
		if err := w.Commit(ctx, dgst); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if got := readAll(t, bs, dgst); !bytes.Equal(got, all) {
			t.Fatal("committed blob differs")
		}
		if got := walk(t, bs); !slices.Equal(got, []digest.Digest{dgst}) {
			t.Fatalf("walk: %v", got)
		}
	})
	t.Run("SessionMismatchAbortAndRehash", func(t *testing.T) {
		bs, _ := open(t)
		data := randomBytes(t, 3000)
		w, err := bs.Writer(ctx, "bad", digest.SHA256, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Commit(ctx, digest.FromString("x")); !errors.Is(err, errdefs.ErrDataCorrupt) {
			t.Fatalf("commit under a wrong digest: %v", err)
		}
		w2, err := bs.Writer(ctx, "gone", digest.SHA256, nil)
		if err != nil {
			t.Fatal(err)
		}
		w2.Write(data)
		if err := w2.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if got := walk(t, bs); len(got) != 0 {
			t.Fatalf("walk after mismatch and abort: %v", got)
		}
		// A session hashed as sha256 finished under sha512.
		w3, err := bs.Writer(ctx, "alg", digest.SHA256, nil)
		if err != nil {
			t.Fatal(err)
		}
		w3.Write(data)
		st, err := w3.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w3.Close()
		w4, err := bs.Writer(ctx, "alg", digest.SHA512, st)
		if err != nil {
			t.Fatal(err)
		}
		d512 := digest.SHA512.FromBytes(data)
		if err := w4.Commit(ctx, d512); err != nil {
			t.Fatalf("sha512 commit: %v", err)
		}
		if got := readAll(t, bs, d512); !bytes.Equal(got, data) {
			t.Fatal("sha512 blob differs")
		}
	})
	t.Run("Delete", func(t *testing.T) {
		bs, _ := open(t)
		data := []byte("delete me")
		dgst := digest.FromBytes(data)
		if err := bs.Put(ctx, dgst, -1, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := bs.Delete(ctx, dgst); err != nil {
			t.Fatal(err)
		}
		if _, err := bs.Stat(ctx, dgst); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("stat after delete: %v", err)
		}
		if _, err := bs.Open(ctx, dgst); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("open after delete: %v", err)
		}
		if err := bs.Delete(ctx, dgst); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func dg(s string) digest.Digest { return digest.FromString(s) }

func runMeta(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("Links", func(t *testing.T) {
		_, m := open(t)
		b := dg("b")
		if ok, err := m.BlobLinked(ctx, "a/x", b); err != nil || ok {
			t.Fatalf("linked before: %v %v", ok, err)
		}
		if err := m.LinkBlob(ctx, "a/x", b); err != nil {
			t.Fatal(err)
		}
		if ok, _ := m.BlobLinked(ctx, "a/x", b); !ok {
			t.Fatal("not linked")
		}
		if ok, err := m.MountBlob(ctx, "a/y", "a/z", b); err != nil || ok {
			t.Fatalf("mount from a repo without it: %v %v", ok, err)
		}
		if ok, err := m.MountBlob(ctx, "a/y", "a/x", b); err != nil || !ok {
			t.Fatalf("mount: %v %v", ok, err)
		}
		if ok, _ := m.BlobLinked(ctx, "a/y", b); !ok {
			t.Fatal("mounted blob not linked")
		}
		if err := m.UnlinkBlob(ctx, "a/x", b); err != nil {
			t.Fatal(err)
		}
		if err := m.UnlinkBlob(ctx, "a/x", b); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("second unlink: %v", err)
		}
	})
	t.Run("ManifestsTagsReferrers", func(t *testing.T) {
		_, m := open(t)
		cfg, layer := dg("cfg"), dg("layer")
		man, art := dg("manifest"), dg("artifact")
		rec := &backend.ManifestRecord{MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 10, Blobs: []digest.Digest{cfg, layer}, Created: time.Now()}
		err := m.PutManifest(ctx, "app", man, rec, []string{"v1"}, rec.Blobs, nil)
		var me *backend.MissingError
		if !errors.As(err, &me) || me.Digest != cfg {
			t.Fatalf("put without blobs: %v, want a MissingError for %s", err, cfg)
		}
		if _, err := m.ResolveTag(ctx, "app", "v1"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("a failed put left a tag: %v", err)
		}
		m.LinkBlob(ctx, "app", cfg)
		m.LinkBlob(ctx, "app", layer)
		if err := m.PutManifest(ctx, "app", man, rec, []string{"v1", "latest"}, rec.Blobs, nil); err != nil {
			t.Fatal(err)
		}
		if d, err := m.ResolveTag(ctx, "app", "latest"); err != nil || d != man {
			t.Fatalf("resolve: %s %v", d, err)
		}
		got, err := m.Manifest(ctx, "app", man)
		if err != nil || got.MediaType != rec.MediaType || got.Size != 10 || len(got.Blobs) != 2 {
			t.Fatalf("manifest record: %+v %v", got, err)
		}
		arec := &backend.ManifestRecord{MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 5, ArtifactType: "application/x-sig", Subject: man, Created: time.Now()}
		if err := m.PutManifest(ctx, "app", art, arec, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		refs, err := m.Referrers(ctx, "app", man)
		if err != nil || len(refs) != 1 || refs[0].Digest != art || refs[0].Record.ArtifactType != "application/x-sig" {
			t.Fatalf("referrers: %+v %v", refs, err)
		}
		idx := dg("index")
		irec := &backend.ManifestRecord{MediaType: "application/vnd.oci.image.index.v1+json", Size: 3, Children: []digest.Digest{dg("nope")}, Created: time.Now()}
		if err := m.PutManifest(ctx, "app", idx, irec, nil, nil, irec.Children); !errors.As(err, &me) || !me.Manifest {
			t.Fatalf("index with a missing child: %v", err)
		}
		// A tag moves atomically.
		if err := m.PutManifest(ctx, "app", art, arec, []string{"v1"}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if d, _ := m.ResolveTag(ctx, "app", "v1"); d != art {
			t.Fatalf("v1 -> %s after the move", d)
		}
		if err := m.DeleteTag(ctx, "app", "latest"); err != nil {
			t.Fatal(err)
		}
		if err := m.DeleteTag(ctx, "app", "latest"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("second tag delete: %v", err)
		}
		if err := m.DeleteManifest(ctx, "app", art); err != nil {
			t.Fatal(err)
		}
		if _, err := m.ResolveTag(ctx, "app", "v1"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("tag of a deleted manifest: %v", err)
		}
		if refs, _ := m.Referrers(ctx, "app", man); len(refs) != 0 {
			t.Fatalf("referrers after delete: %v", refs)
		}
		if err := m.DeleteManifest(ctx, "app", art); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("second manifest delete: %v", err)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		_, m := open(t)
		man := dg("m")
		rec := &backend.ManifestRecord{MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1, Created: time.Now()}
		var tags []string
		for _, s := range []string{"b", "a", "B", "a0", "z", "_x", "10", "9"} {
			tags = append(tags, s)
		}
		if err := m.PutManifest(ctx, "r", man, rec, tags, nil, nil); err != nil {
			t.Fatal(err)
		}
		slices.Sort(tags) // byte order
		var got []string
		last := ""
		for {
			page, more, err := m.Tags(ctx, "r", last, 3)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if !more {
				break
			}
			last = page[len(page)-1]
		}
		if !slices.Equal(got, tags) {
			t.Fatalf("paged tags %v, want %v", got, tags)
		}
		if _, _, err := m.Tags(ctx, "nope", "", 10); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("tags of an unknown repository: %v", err)
		}
		if page, more, err := m.Tags(ctx, "r", "", 0); err != nil || len(page) != 0 || more {
			t.Fatalf("n=0: %v %v %v", page, more, err)
		}
		for _, r := range []string{"c/1", "a", "b/x"} {
			m.LinkBlob(ctx, r, man)
		}
		repos, more, err := m.Repositories(ctx, "a", 2)
		if err != nil || !slices.Equal(repos, []string{"b/x", "c/1"}) || !more {
			t.Fatalf("catalog after a: %v %v %v", repos, more, err)
		}
	})
	t.Run("Uploads", func(t *testing.T) {
		_, m := open(t)
		rec := backend.UploadRecord{Repo: "r", Algorithm: digest.SHA256, Started: time.Now().Truncate(time.Millisecond), State: []byte("s0")}
		if err := m.PutUpload(ctx, "u1", rec); err != nil {
			t.Fatal(err)
		}
		got, err := m.Upload(ctx, "u1")
		if err != nil || got.Repo != "r" || string(got.State) != "s0" {
			t.Fatalf("upload: %+v %v", got, err)
		}
		rec.Offset, rec.State = 10, []byte("s1")
		if err := m.UpdateUpload(ctx, "u1", 0, rec); err != nil {
			t.Fatal(err)
		}
		if err := m.UpdateUpload(ctx, "u1", 0, rec); !errors.Is(err, errdefs.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
		if err := m.UpdateUpload(ctx, "nope", 0, rec); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("update of an unknown session: %v", err)
		}
		all, err := m.Uploads(ctx)
		if err != nil || len(all) != 1 || all["u1"].Offset != 10 {
			t.Fatalf("uploads: %v %v", all, err)
		}
		if err := m.FinishUpload(ctx, "u1", "r", dg("blob")); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Upload(ctx, "u1"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("finished session still there: %v", err)
		}
		if ok, _ := m.BlobLinked(ctx, "r", dg("blob")); !ok {
			t.Fatal("finish did not link")
		}
		if err := m.DeleteUpload(ctx, "u1"); err != nil {
			t.Fatalf("delete of a gone session: %v", err)
		}
	})
	t.Run("ReposSweep", func(t *testing.T) {
		_, m := open(t)
		keep, drop := dg("keep"), dg("drop")
		m.LinkBlob(ctx, "r", keep)
		m.LinkBlob(ctx, "r", drop)
		rec := &backend.ManifestRecord{MediaType: "x", Size: 1, Blobs: []digest.Digest{keep}, Created: time.Now()}
		if err := m.PutManifest(ctx, "r", dg("m1"), rec, []string{"t"}, rec.Blobs, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.PutManifest(ctx, "r", dg("m2"), rec, []string{"old"}, rec.Blobs, nil); err != nil {
			t.Fatal(err)
		}
		var states []backend.RepoState
		if err := m.Repos(ctx, func(s backend.RepoState) error { states = append(states, s); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(states) != 1 || len(states[0].Manifests) != 2 || states[0].Tags["t"] != dg("m1") || len(states[0].Links) != 2 {
			t.Fatalf("repos: %+v", states)
		}
		if time.Since(states[0].Links[keep]) > time.Minute {
			t.Fatalf("link time %v", states[0].Links[keep])
		}
		if err := m.Sweep(ctx, "r", []digest.Digest{dg("m2")}, []digest.Digest{drop}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.ResolveTag(ctx, "r", "old"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("tag of a swept manifest: %v", err)
		}
		if ok, _ := m.BlobLinked(ctx, "r", drop); ok {
			t.Fatal("swept link still there")
		}
		if ok, _ := m.BlobLinked(ctx, "r", keep); !ok {
			t.Fatal("kept link gone")
		}
	})
	t.Run("LockExcludes", func(t *testing.T) {
		_, m := open(t)
		release, err := m.Lock(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		released := false
		done := make(chan bool)
		go func() { // ends when the shared lock is granted
			r, err := m.Lock(ctx, false)
			if err != nil {
				done <- false
				return
			}
			mu.Lock()
			ok := released
			mu.Unlock()
			r()
			done <- ok
		}()
		select {
		case <-done:
			t.Fatal("shared lock granted while GC holds it exclusively")
		case <-time.After(200 * time.Millisecond): // a bounded wait for something that must not happen
		}
		mu.Lock()
		released = true
		mu.Unlock()
		release()
		if ok := <-done; !ok {
			t.Fatal("shared lock failed or came before the release")
		}
		r1, err := m.Lock(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := m.Lock(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		r1()
		r2()
	})
}
