package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/testutil"
)

// rtRegistry serves a fresh Strata registry on loopback; wrap, if set,
// puts a fault-injecting handler in front of the real one. It returns the
// host:port to use in references.
func rtRegistry(t *testing.T, opts registry.Options, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	dir := t.TempDir()
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := registry.New(store, filepath.Join(dir, "registry"), opts)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = g
	if wrap != nil {
		h = wrap(g)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// rtEngine opens an engine on an empty root.
func rtEngine(t *testing.T) *engine.Engine {
	t.Helper()
	testutil.RequiresRoot(t)
	e, err := engine.Open(context.Background(), engine.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rtClient is a client with no credentials unless given, quick retries
// and upload sessions in dir.
func rtClient(dir string, opts ...remote.Option) *remote.Client {
	base := []remote.Option{
		remote.WithCredentials(func(context.Context, string) (remote.Credential, error) { return remote.Credential{}, nil }),
		remote.WithRetry(3, 10*time.Millisecond),
		remote.WithSessions(remote.DirSessions(dir)),
	}
	return remote.New(append(base, opts...)...)
}

// rtLog records progress events as plain lines.
type rtLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *rtLog) report(ev progress.Event) {
	if ev.Action == "Downloading" || ev.Action == "Pushing" || ev.Action == "Extracting" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.ID == "" {
		l.lines = append(l.lines, ev.Action)
	} else {
		l.lines = append(l.lines, ev.ID+": "+ev.Action)
	}
}

func (l *rtLog) count(suffix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasSuffix(s, suffix) {
			n++
		}
	}
	return n
}

func (l *rtLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// rtImport imports busybox plus extra files as ref.
func rtImport(t *testing.T, e *engine.Engine, ref string, extra map[string][]byte) digest.Digest {
	t.Helper()
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	for name, b := range extra {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id, err := e.Import(context.Background(), engine.ImportOptions{Source: dir, Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// rtFiles reads the files of an image's top snapshot through a view.
func rtFiles(t *testing.T, e *engine.Engine, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	img, err := e.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	key := "rt-view-" + fmt.Sprint(time.Now().UnixNano())
	mounts, err := e.Snap.View(ctx, key, img.ChainID().String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Snap.Remove(ctx, key)
	out := map[string]string{}
	err = layer.WithMounted(ctx, mounts, func(root string) error {
		return filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				out[rel] = fmt.Sprintf("%v %s", fi.Mode(), digest.FromBytes(b))
			case fi.Mode()&os.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				out[rel] = "-> " + l
			default:
				out[rel] = fi.Mode().String()
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPushPullRoundTrip(t *testing.T) {
	host := rtRegistry(t, registry.Options{}, nil)
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/app/busybox:v1"
	id := rtImport(t, src, ref, map[string][]byte{"data/blob": randomBytes(1 << 20)})
	sessions := t.TempDir()

	var push rtLog
	desc, err := src.Push(ctx, ref, engine.PushOptions{Progress: push.report, Client: rtClient(sessions)})
	if err != nil {
		t.Fatal(err)
	}
	if push.count(": Pushed") != 1 || !strings.Contains(push.String(), "The push refers to repository ["+host+"/app/busybox]") ||
		!strings.Contains(push.String(), fmt.Sprintf("v1: digest: %s size: %d", desc.Digest, desc.Size)) {
		t.Errorf("push output:\n%s", push.String())
	}

	dst := rtEngine(t)
	var pull rtLog
	got, err := dst.Pull(ctx, ref, engine.PullOptions{Progress: pull.report, Client: rtClient(sessions)})
	if err != nil {
		t.Fatal(err)
	}
	if got != desc.Digest {
		t.Errorf("pulled digest %s, pushed %s", got, desc.Digest)
	}
	for _, want := range []string{"v1: Pulling from app/busybox", ": Waiting", ": Verifying Checksum", ": Download complete", ": Pull complete", "Digest: " + desc.Digest.String(), "Status: Downloaded newer image for " + host + "/app/busybox:v1"} {
		if !strings.Contains(pull.String(), want) {
			t.Errorf("pull output lacks %q:\n%s", want, pull.String())
		}
	}
	img, err := dst.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID() != id {
		t.Errorf("image ID after round trip %s, want %s", img.ID(), id)
	}
	if diff := cmp.Diff(rtFiles(t, src, ref), rtFiles(t, dst, ref)); diff != "" {
		t.Errorf("files (-pushed +pulled):\n%s", diff)
	}

	t.Run("re-push skips every layer", func(t *testing.T) {
		var again rtLog
		start := time.Now()
		if _, err := src.Push(ctx, ref, engine.PushOptions{Progress: again.report, Client: rtClient(sessions)}); err != nil {
			t.Fatal(err)
		}
		t.Logf("re-push took %v", time.Since(start))
		if again.count(": Pushed") != 0 || again.count(": Layer already exists") != 1 {
			t.Errorf("re-push output:\n%s", again.String())
		}
	})
	t.Run("re-pull is up to date", func(t *testing.T) {
		var again rtLog
		if _, err := dst.Pull(ctx, ref, engine.PullOptions{Progress: again.report, Client: rtClient(sessions)}); err != nil {
			t.Fatal(err)
		}
		if again.count(": Already exists") != 1 || !strings.Contains(again.String(), "Status: Image is up to date for "+host+"/app/busybox:v1") {
			t.Errorf("re-pull output:\n%s", again.String())
		}
	})
	t.Run("push to another repository mounts", func(t *testing.T) {
		other := host + "/other/busybox:v1"
		if err := dst.Tag(ctx, ref, other); err != nil {
			t.Fatal(err)
		}
		var out rtLog
		if _, err := dst.Push(ctx, other, engine.PushOptions{Progress: out.report, Client: rtClient(sessions)}); err != nil {
			t.Fatal(err)
		}
		if out.count(": Mounted from app/busybox") != 1 {
			t.Errorf("push output:\n%s", out.String())
		}
	})
}

// rtTarGz is a gzipped tar of files, with its diffID.
func rtTarGz(t *testing.T, files map[string][]byte) ([]byte, digest.Digest) {
	t.Helper()
	tb := testutil.NewTar()
	for name, b := range files {
		tb.File(name, b, 0o644)
	}
	raw := tb.Bytes()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes(), digest.FromBytes(raw)
}

// rtPushSynthetic puts an image of the given layers straight into a
// registry through the client, returning its manifest's descriptor.
func rtPushSynthetic(t *testing.T, client *remote.Client, ref string, layers [][]byte, diffIDs []digest.Digest, platform ocispec.Platform) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := client.Repository(ctx, named, true)
	if err != nil {
		t.Fatal(err)
	}
	put := func(mt string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if _, err := repo.PushBlob(ctx, d, bytes.NewReader(b), remote.PushBlobOptions{}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := ocispec.Image{Platform: platform, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	cb, _ := json.Marshal(cfg)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: put(ocispec.MediaTypeImageConfig, cb)}
	for _, l := range layers {
		m.Layers = append(m.Layers, put(ocispec.MediaTypeImageLayerGzip, l))
	}
	mb, _ := json.Marshal(m)
	tag := "latest"
	if tg, ok := named.(reference.Tagged); ok {
		tag = tg.Tag()
	}
	d, err := repo.PutManifest(ctx, tag, ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	d.Platform = &platform
	return d
}

func TestPullSkipsExistingLayers(t *testing.T) {
	host := rtRegistry(t, registry.Options{}, nil)
	ctx := context.Background()
	client := rtClient(t.TempDir())
	base, baseID := rtTarGz(t, map[string][]byte{"etc/base": []byte("base\n")})
	mid, midID := rtTarGz(t, map[string][]byte{"etc/mid": []byte("mid\n")})
	top, topID := rtTarGz(t, map[string][]byte{"etc/top": []byte("top\n")})
	p := manifest.Platform()
	rtPushSynthetic(t, client, host+"/lib/base:1", [][]byte{base, mid}, []digest.Digest{baseID, midID}, p)
	rtPushSynthetic(t, client, host+"/lib/app:1", [][]byte{base, mid, top}, []digest.Digest{baseID, midID, topID}, p)

	e := rtEngine(t)
	if _, err := e.Pull(ctx, host+"/lib/base:1", engine.PullOptions{Client: client}); err != nil {
		t.Fatal(err)
	}
	var log rtLog
	if _, err := e.Pull(ctx, host+"/lib/app:1", engine.PullOptions{Client: client, Progress: log.report}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1: Pulling from lib/app",
		digest.FromBytes(base).Encoded()[:12] + ": Already exists",
		digest.FromBytes(mid).Encoded()[:12] + ": Already exists",
		digest.FromBytes(top).Encoded()[:12] + ": Waiting",
	}
	if diff := cmp.Diff(want, log.lines[:4]); diff != "" {
		t.Errorf("progress (-want +got):\n%s\n%s", diff, log.String())
	}
	files := rtFiles(t, e, host+"/lib/app:1")
	for _, f := range []string{"etc/base", "etc/mid", "etc/top"} {
		if _, ok := files[f]; !ok {
			t.Errorf("pulled image lacks %s: %v", f, files)
		}
	}
}

// rtBlobGets counts the bytes of blob bodies served, per digest, and lets a
// test alter them.
type rtBlobGets struct {
	mu    sync.Mutex
	bytes map[string]int64
	gets  map[string]int
}

func (b *rtBlobGets) wrap(next http.Handler, alter func(w http.ResponseWriter, r *http.Request, dgst string) http.ResponseWriter) http.Handler {
	b.bytes, b.gets = map[string]int64{}, map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := strings.Index(r.URL.Path, "/blobs/sha256:")
		if r.Method != http.MethodGet || i < 0 {
			next.ServeHTTP(w, r)
			return
		}
		dgst := r.URL.Path[i+len("/blobs/"):]
		b.mu.Lock()
		b.gets[dgst]++
		b.mu.Unlock()
		cw := &countingWriter{ResponseWriter: w}
		var out http.ResponseWriter = cw
		if alter != nil {
			out = alter(cw, r, dgst)
		}
		next.ServeHTTP(out, r)
		b.mu.Lock()
		b.bytes[dgst] += cw.n
		b.mu.Unlock()
	})
}

func (b *rtBlobGets) served(dgst digest.Digest) (int64, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes[dgst.String()], b.gets[dgst.String()]
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// flipWriter flips one byte of the body at offset at.
type flipWriter struct {
	http.ResponseWriter
	at, off int64
}

func (f *flipWriter) Write(p []byte) (int, error) {
	if f.at >= f.off && f.at < f.off+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[f.at-f.off] ^= 0xff
		p = q
	}
	f.off += int64(len(p))
	return f.ResponseWriter.Write(p)
}

// cutWriter writes limit bytes of the body, then aborts the connection.
type cutWriter struct {
	http.ResponseWriter
	limit, off int64
	onCut      func()
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.off+int64(len(p)) > c.limit {
		n, _ := c.ResponseWriter.Write(p[:c.limit-c.off])
		c.off += int64(n)
		c.ResponseWriter.(http.Flusher).Flush()
		if c.onCut != nil {
			c.onCut()
		}
		panic(http.ErrAbortHandler)
	}
	n, err := c.ResponseWriter.Write(p)
	c.off += int64(n)
	return n, err
}

func (c *cutWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

// rtLayerDesc is the one layer of a one-layer image in e.
func rtLayerDesc(t *testing.T, e *engine.Engine, ref string) ocispec.Descriptor {
	t.Helper()
	img, err := e.ResolveImage(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return img.Manifest.Layers[0]
}

func TestPullRefusesCorruptLayer(t *testing.T) {
	var layerDigest atomic.Value
	layerDigest.Store("")
	var gets rtBlobGets
	host := rtRegistry(t, registry.Options{}, func(h http.Handler) http.Handler {
		return gets.wrap(h, func(w http.ResponseWriter, r *http.Request, dgst string) http.ResponseWriter {
			if dgst == layerDigest.Load().(string) {
				return &flipWriter{ResponseWriter: w, at: 5000}
			}
			return w
		})
	})
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/app/corrupt:v1"
	rtImport(t, src, ref, nil)
	sessions := t.TempDir()
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	desc := rtLayerDesc(t, src, ref)
	layerDigest.Store(desc.Digest.String())

	dst := rtEngine(t)
	_, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)})
	if err == nil {
		t.Fatal("pull of a corrupt layer succeeded")
	}
	if !errors.Is(err, errdefs.ErrDataCorrupt) || !strings.Contains(err.Error(), "layer "+desc.Digest.String()+": digest mismatch") ||
		!strings.Contains(err.Error(), "nothing was kept") {
		t.Errorf("error %q: want a data-corrupt error naming layer %s", err, desc.Digest)
	}
	if _, err := dst.Content.Info(ctx, desc.Digest); !errdefs.IsNotFound(err) {
		t.Errorf("corrupt blob kept: %v", err)
	}
	if ings, _ := dst.Content.Ingests(ctx); len(ings) != 0 {
		t.Errorf("ingests left behind: %+v", ings)
	}
	if _, err := dst.ResolveImage(ctx, ref); !errdefs.IsNotFound(err) {
		t.Errorf("image named after a failed pull: %v", err)
	}
}

func TestPullResumesCutLayer(t *testing.T) {
	var layerDigest atomic.Value
	layerDigest.Store("")
	var cuts atomic.Int32
	var gets rtBlobGets
	const size = 8 << 20
	cancelAt := func() {}
	var mu sync.Mutex
	host := rtRegistry(t, registry.Options{}, func(h http.Handler) http.Handler {
		return gets.wrap(h, func(w http.ResponseWriter, r *http.Request, dgst string) http.ResponseWriter {
			// The first GET is cut at 30% and the pull cancelled (a kill);
			// the second, resumed in a new pull, is cut at 60% of the
			// whole (a dropped connection the pull recovers from itself).
			if dgst != layerDigest.Load().(string) {
				return w
			}
			switch cuts.Add(1) {
			case 1:
				mu.Lock()
				c := cancelAt
				mu.Unlock()
				return &cutWriter{ResponseWriter: w, limit: size * 3 / 10, onCut: c}
			case 2:
				return &cutWriter{ResponseWriter: w, limit: size * 3 / 10}
			}
			return w
		})
	})
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/app/big:v1"
	rtImport(t, src, ref, map[string][]byte{"big": randomBytes(size)})
	sessions := t.TempDir()
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	desc := rtLayerDesc(t, src, ref)
	layerDigest.Store(desc.Digest.String())

	dst := rtEngine(t)
	cctx, cancel := context.WithCancel(ctx)
	mu.Lock()
	cancelAt = cancel
	mu.Unlock()
	if _, err := dst.Pull(cctx, ref, engine.PullOptions{Client: rtClient(sessions)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("first pull: %v, want cancelled", err)
	}
	first, _ := gets.served(desc.Digest)
	ings, _ := dst.Content.Ingests(ctx)
	if len(ings) != 1 || ings[0].Offset == 0 {
		t.Fatalf("the cut pull kept no bytes: %+v", ings)
	}
	if _, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	total, n := gets.served(desc.Digest)
	again := total - ings[0].Offset
	t.Logf("layer %d bytes: first pull got %d (kept %d), all pulls %d in %d GETs; fetched again %d (%.2f%%)",
		desc.Size, first, ings[0].Offset, total, n, again-(desc.Size-ings[0].Offset), 100*float64(total-desc.Size)/float64(desc.Size))
	if limit := desc.Size + desc.Size/20 + 1<<20; total > limit {
		t.Errorf("served %d bytes for a %d byte layer: more than 5%% + 1 MiB fetched twice", total, desc.Size)
	}
	if diff := cmp.Diff(rtFiles(t, src, ref), rtFiles(t, dst, ref)); diff != "" {
		t.Errorf("files (-pushed +pulled):\n%s", diff)
	}
}
