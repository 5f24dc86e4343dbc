package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/testutil"
)

// plainRegistries start a registry without auth, each behind a counting
// proxy (testutil.RoundRobin over one target), and return the proxy's
// address and the proxy.
var plainRegistries = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"strata", func(t *testing.T) string {
		addr := freeAddr(t)
		serve(t, addr, strataBin, "registry", "serve", "--addr", addr, "--root", filepath.Join(t.TempDir(), "registry"), "--access-log", "none")
		return addr
	}},
	{"distribution", func(t *testing.T) string { return testutil.Distribution(t, "") }},
}

func counted(t *testing.T, addr string) (string, *testutil.RoundRobin) {
	t.Helper()
	rr := testutil.NewRoundRobin("http://" + addr)
	srv := httptest.NewServer(rr)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rr
}

// TestBlobCache: a pull with the default budget keeps one copy of each
// layer (no layer blob under the store, the Blob Cache row empty); a push
// back to the registry it came from, or to another repository there,
// sends no blob and keeps the manifest's digest; a push to an empty
// registry rebuilds the layers, says that the manifest is new, and pulls
// back as the same image; a save of the evicted image loads (in docker
// too, when one is running); fsck calls the store clean throughout.
// The layers are gzipped by Go's gzip at its best compression, as another
// tool would, so that Strata's rebuild (pgzip) is not byte-identical.
func TestBlobCache(t *testing.T) {
	for _, reg := range plainRegistries {
		t.Run(reg.name, func(t *testing.T) {
			addr, rr := counted(t, reg.start(t))
			ref := addr + "/e2e/src:v1"

			// The publisher keeps its blobs and pushes the image as made.
			pub := newUser(t)
			pub.env = []string{"STRATA_BLOB_CACHE_SIZE=1g"}
			payload := foreignImage(t, pub, ref)
			r := pub.ok(t, "push", ref)
			orig := wantLine(t, r, r.stderr, `v1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+`)[1]

			// One copy after a pull with the default budget.
			u := newUser(t)
			u.ok(t, "pull", ref)
			id := u.inspect(t, "{{.Id}}", ref)
			if n := dirBytes(t, filepath.Join(u.root, "blobs")); n >= payload/4 {
				t.Errorf("after the pull the store's blobs take %d bytes; the layers hold %d: a compressed copy was kept", n, payload)
			}
			if n := dirBytes(t, filepath.Join(u.root, "snapshots")); n < payload {
				t.Errorf("the snapshots take %d bytes, under the layers' %d", n, payload)
			}
			r = u.ok(t, "system", "df")
			wantLine(t, r, r.stdout, `Blob Cache\s+0\s+0\s+0B\s+0B`)
			u.fsckClean(t)

			// Back to the same repository, then to another one there:
			// nothing sent, the same manifest.
			for _, to := range []string{ref, addr + "/e2e/other:v1"} {
				if to != ref {
					u.ok(t, "tag", ref, to)
				}
				before := rr.Uploads.Load()
				r = u.ok(t, "push", to)
				if got := wantLine(t, r, r.stderr, `v1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+`)[1]; got != orig {
					t.Errorf("push to %s: manifest %s, want the original %s\n%v", to, got, orig, r)
				}
				if n := rr.Uploads.Load() - before; n != 0 {
					t.Errorf("push to %s sent %d blob PATCH/PUT requests, want none\n%v", to, n, r)
				}
				if strings.Contains(r.stderr, "manifest pushed is new") {
					t.Errorf("push to %s says the manifest is new: %v", to, r)
				}
			}

			// To an empty registry: rebuilt, a new manifest, said once.
			addr2, rr2 := counted(t, reg.start(t))
			ref2 := addr2 + "/e2e/src:v1"
			u.ok(t, "tag", ref, ref2)
			r = u.ok(t, "push", ref2)
			if got := wantLine(t, r, r.stderr, `v1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+`)[1]; got == orig {
				t.Errorf("push of rebuilt layers kept the manifest %s", got)
			}
			if n := len(lines(r.stderr, `layer blobs rebuilt from their snapshots \(evicted from the blob cache and not in the repository\): the manifest pushed is new`)); n != 1 {
				t.Errorf("push to an empty registry: %d lines say the manifest is new, want 1\n%v", n, r)
			}
			if rr2.Uploads.Load() == 0 {
				t.Errorf("push to an empty registry sent nothing")
			}
			back := newUser(t)
			back.ok(t, "pull", ref2)
			if got := back.inspect(t, "{{.Id}}", ref2); got != id {
				t.Errorf("pulled back image %s, pushed %s", got, id)
			}
			back.fsckClean(t)
			r = u.ok(t, "system", "df")
			wantLine(t, r, r.stdout, `Blob Cache\s+0\s+0\s+0B\s+0B`)

			// Save with the blobs gone: loads as the same image.
			archive := filepath.Join(t.TempDir(), "saved.tar")
			u.ok(t, "save", "-o", archive, ref)
			ld := newUser(t)
			ld.ok(t, "load", "-i", archive)
			if got := ld.inspect(t, "{{.Id}}", ref); got != id {
				t.Errorf("loaded image %s, saved %s", got, id)
			}
			ld.fsckClean(t)
			if os.Getenv("STRATA_TEST_DOCKER_HOST") != "" && reg.name == "strata" {
				docker := dockerCLI(t)
				name := "strata-e2e/blobcache:v1"
				u.ok(t, "tag", ref, name)
				u.ok(t, "save", "-o", archive, name)
				t.Cleanup(func() { docker("rmi", "-f", name) })
				if _, err := docker("load", "-i", archive); err != nil {
					t.Fatal(err)
				}
				out, err := docker("image", "inspect", "--format", "{{.Id}}", name)
				if err != nil {
					t.Fatal(err)
				}
				if strings.TrimSpace(out) != id {
					t.Errorf("docker loaded %s, strata saved %s", strings.TrimSpace(out), id)
				}
			}
			u.ok(t, "system", "prune", "-f")
			u.fsckClean(t)
		})
	}
}

// TestPullKilledResumes kills a pull (kill -9) while a layer is half read,
// with the default budget of 0: the next pull asks only for the rest
// (a Range request), the image is whole, the blob is not kept, and fsck
// calls the store clean.
func TestPullKilledResumes(t *testing.T) {
	addr, rr := counted(t, plainRegistries[0].start(t))
	ref := addr + "/e2e/big:v1"
	pub := newUser(t)
	pub.env = []string{"STRATA_BLOB_CACHE_SIZE=1g"}
	payload := foreignImage(t, pub, ref)
	pub.ok(t, "push", ref)

	u := newUser(t)
	held, release := rr.Hold(t, 1<<20)
	cmd := exec.Command(strataBin, "pull", ref)
	cmd.Env = append(os.Environ(), "STRATA_ROOT="+u.root, "DOCKER_CONFIG="+u.config, "HOME="+u.config)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the pull did not read a layer within 2 minutes")
	}
	// Wait until the pull has written what it was sent into its ingest.
	if !testutil.Poll(testutil.Patience, func() bool { return dirBytes(t, filepath.Join(u.root, "ingest")) >= 1<<20 }) {
		t.Fatalf("ingest holds %d bytes after %v", dirBytes(t, filepath.Join(u.root, "ingest")), testutil.Patience)
	}
	cmd.Process.Kill()
	cmd.Wait()
	release()
	before := rr.Ranged.Load()
	u.ok(t, "pull", ref)
	if rr.Ranged.Load() == before {
		t.Errorf("the second pull read the layer from its start")
	}
	if n := dirBytes(t, filepath.Join(u.root, "blobs")); n >= payload/4 {
		t.Errorf("after the pull the store's blobs take %d bytes: a compressed copy was kept", n)
	}
	u.fsckClean(t)
}

// foreignImage loads, as ref, an image of two layers, made as another
// tool would make them (Go's gzip at its best compression): 2 MiB of
// random bytes, and a small file. It returns the layers' file bytes.
func foreignImage(t *testing.T, u *user, ref string) int64 {
	t.Helper()
	big := make([]byte, 2<<20)
	rand.Read(big)
	tars := [][]byte{
		testutil.NewTar().Dir("data", 0o755).File("data/random", big, 0o644).Bytes(),
		testutil.NewTar().File("hello", []byte("hello from "+ref+"\n"), 0o644).Bytes(),
	}
	out := testutil.NewTar()
	blob := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		out.File("blobs/sha256/"+d.Encoded(), b, 0o644)
		return d
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}, RootFS: ocispec.RootFS{Type: "layers"}}
	var layers []ocispec.Descriptor
	for _, tb := range tars {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(tb)
		zw.Close()
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(tb))
		layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blob(buf.Bytes()), Size: int64(buf.Len())})
	}
	cb, _ := json.Marshal(cfg)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: blob(cb), Size: int64(len(cb))}, Layers: layers}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md := blob(mb)
	tag := ref[strings.LastIndex(ref, ":")+1:]
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb)),
		Annotations: map[string]string{"io.containerd.image.name": ref, ocispec.AnnotationRefName: tag}}}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	out.File("index.json", ib, 0o644).File("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	u.ok(t, "load", "-i", p)
	return int64(len(big))
}

// dirBytes adds up the sizes of the regular files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
