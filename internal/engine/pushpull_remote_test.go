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
	"syscall"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/snapshot"
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
	return rtEngineCache(t, "")
}

// rtEngineCache opens a store whose blob cache keeps size bytes ("": the
// default, none).
func rtEngineCache(t *testing.T, size string) *engine.Engine {
	t.Helper()
	testutil.RequiresRoot(t)
	e, err := engine.Open(context.Background(), engine.Options{Root: t.TempDir(), BlobCacheSize: size})
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
		defer func() { // also when a cutWriter aborts the handler
			b.mu.Lock()
			b.bytes[dgst] += cw.n
			b.mu.Unlock()
		}()
		next.ServeHTTP(out, r)
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
	// The kill comes once the pull has kept some of what was sent: under
	// load the client may not have read a byte when the server cuts.
	cancelAt = func() {
		testutil.Poll(testutil.Patience, func() bool { return keptSome(ctx, dst) })
		cancel()
	}
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
	kept := ings[0].Offset
	t.Logf("layer of %d bytes: the killed pull was sent %d and kept %d (the rest was in flight in socket buffers); the next pull was sent %d in %d GETs",
		desc.Size, first, kept, total-first, n-1)
	// The next pull asks only for what was not kept, and a connection cut
	// on the way loses nothing either: not one kept byte is fetched again.
	if got, want := total-first, desc.Size-kept; got != want {
		t.Errorf("the resumed pull was sent %d bytes, want exactly the %d not kept", got, want)
	}
	if n != 3 {
		t.Errorf("%d GETs of the layer, want 3 (killed, cut, finished)", n)
	}
	if diff := cmp.Diff(rtFiles(t, src, ref), rtFiles(t, dst, ref)); diff != "" {
		t.Errorf("files (-pushed +pulled):\n%s", diff)
	}
}

// keptSome reports whether a pull into e has kept bytes of a blob.
func keptSome(ctx context.Context, e *engine.Engine) bool {
	ings, _ := e.Content.Ingests(ctx)
	for _, in := range ings {
		if in.Offset > 0 {
			return true
		}
	}
	return false
}

func TestPushResumesAfterInterruption(t *testing.T) {
	const chunk = 1 << 20
	var patches, patchBytes atomic.Int64
	var failAt atomic.Int64 // the PATCH that fails, 0 none
	var cancel atomic.Value
	cancel.Store(context.CancelFunc(func() {}))
	host := rtRegistry(t, registry.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				n := patches.Add(1)
				if n == failAt.Load() {
					// The push is killed while this chunk is on its way.
					cancel.Load().(context.CancelFunc)()
					http.Error(w, "gone", http.StatusServiceUnavailable)
					return
				}
				patchBytes.Add(r.ContentLength)
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/app/pushme:v1"
	rtImport(t, src, ref, map[string][]byte{"big": randomBytes(6 << 20)})
	desc := rtLayerDesc(t, src, ref)
	sessions := t.TempDir()

	failAt.Store(4)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	cancel.Store(context.CancelFunc(stop))
	if _, err := src.Push(cctx, ref, engine.PushOptions{Client: rtClient(sessions, remote.WithChunkSize(chunk))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted push: %v, want cancelled", err)
	}
	first := patchBytes.Load()
	if first != 3*chunk {
		t.Fatalf("first push sent %d bytes, want 3 chunks", first)
	}
	patchBytes.Store(0)
	failAt.Store(0)
	var log rtLog
	if _, err := src.Push(ctx, ref, engine.PushOptions{Progress: log.report, Client: rtClient(sessions, remote.WithChunkSize(chunk))}); err != nil {
		t.Fatal(err)
	}
	second := patchBytes.Load()
	t.Logf("layer of %d bytes: the interrupted push sent %d, the resumed one %d", desc.Size, first, second)
	img, _ := src.ResolveImage(ctx, ref)
	if want := desc.Size - first + img.ConfigDesc.Size; second != want {
		t.Errorf("resumed push sent %d bytes, want the %d left of the layer and the config", second, want)
	}
	if log.count(": Pushed") != 1 {
		t.Errorf("push output:\n%s", log.String())
	}
	dst := rtEngine(t)
	if _, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatalf("pull of the resumed push: %v", err)
	}
}

// rtHtpasswd writes an htpasswd file for user:pass (bcrypt cost 5).
func rtHtpasswd(t *testing.T, user, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), 5)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(user+":"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBasicAuth(t *testing.T) {
	host := rtRegistry(t, registry.Options{HtpasswdPath: rtHtpasswd(t, "alice", "wonder")}, nil)
	ctx := context.Background()
	e := rtEngine(t)
	ref := host + "/private/app:v1"
	rtImport(t, e, ref, nil)
	cfg := &remote.ConfigFile{Path: filepath.Join(t.TempDir(), "config.json")}
	client := func() *remote.Client { return rtClient(t.TempDir(), remote.WithCredentials(cfg.Get)) }

	_, err := e.Push(ctx, ref, engine.PushOptions{Client: client()})
	if !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), `unauthorized: run "strata login `+host+`" first`) {
		t.Fatalf("push without login: %v, want unauthorized with a login hint", err)
	}
	if err := client().Login(ctx, host, remote.Credential{Username: "alice", Password: "wrong"}); !errors.Is(err, errdefs.ErrUnauthorized) ||
		!strings.Contains(err.Error(), "incorrect username or password") {
		t.Fatalf("login with a wrong password: %v", err)
	}
	good := remote.Credential{Username: "alice", Password: "wonder"}
	if err := client().Login(ctx, host, good); err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := cfg.Store(ctx, host, good); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Push(ctx, ref, engine.PushOptions{Client: client()}); err != nil {
		t.Fatalf("push after login: %v", err)
	}
	dst := rtEngine(t)
	if _, err := dst.Pull(ctx, ref, engine.PullOptions{Client: client()}); err != nil {
		t.Fatalf("pull after login: %v", err)
	}
}

// rtTokenAuth puts distribution's token auth in front of a registry: /token
// checks Basic credentials and hands out a token naming the scopes asked
// for; /v2/ wants that token with the right scope.
func rtTokenAuth(user, pass string, tokens *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				u, p, ok := r.BasicAuth()
				if !ok || u != user || p != pass {
					http.Error(w, `{"details":"bad credentials"}`, http.StatusUnauthorized)
					return
				}
				tokens.Add(1)
				tok := "tok:" + strings.Join(r.URL.Query()["scope"], "|")
				json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
				return
			}
			scope := ""
			if parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/", 2); len(parts) == 2 {
				scope = "repository:" + parts[0] + ":pull"
			} else if parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/", 2); len(parts) == 2 {
				scope = "repository:" + parts[0] + ":pull"
			}
			authz := r.Header.Get("Authorization")
			if !strings.HasPrefix(authz, "Bearer tok:") || (scope != "" && !strings.Contains(authz, strings.TrimSuffix(scope, ":pull"))) {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test-registry",scope="%s"`, r.Host, scope))
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestBearerTokenAuth(t *testing.T) {
	var tokens atomic.Int32
	host := rtRegistry(t, registry.Options{}, rtTokenAuth("bob", "builder", &tokens))
	ctx := context.Background()
	e := rtEngine(t)
	ref := host + "/team/app:v1"
	rtImport(t, e, ref, nil)
	creds := func(user, pass string) remote.Option {
		return remote.WithCredentials(func(context.Context, string) (remote.Credential, error) {
			return remote.Credential{Username: user, Password: pass}, nil
		})
	}
	if _, err := e.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir(), creds("bob", "nope"))}); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("push with wrong credentials: %v, want unauthorized", err)
	}
	if err := rtClient(t.TempDir()).Login(ctx, host, remote.Credential{Username: "bob", Password: "builder"}); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := e.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir(), creds("bob", "builder"))}); err != nil {
		t.Fatalf("push: %v", err)
	}
	tokens.Store(0)
	dst := rtEngine(t)
	if _, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(t.TempDir(), creds("bob", "builder"))}); err != nil {
		t.Fatalf("pull: %v", err)
	}
	if n := tokens.Load(); n > 2 {
		t.Errorf("pull fetched %d tokens; one per scope should be cached", n)
	}
}

func TestRetriesThenClearError(t *testing.T) {
	var fails, manifestGets atomic.Int32
	host := rtRegistry(t, registry.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet {
				manifestGets.Add(1)
				if fails.Add(-1) >= 0 {
					http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"overloaded"}]}`, http.StatusServiceUnavailable)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/app/flaky:v1"
	rtImport(t, src, ref, nil)
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir())}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		fails   int32
		wantErr bool
	}{
		{"two 503s are retried", 2, false},
		{"always 503 gives up", 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails.Store(tc.fails)
			manifestGets.Store(0)
			dst := rtEngine(t)
			_, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(t.TempDir())})
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "overloaded") {
				t.Errorf("error %q: want unavailable with the registry's message", err)
			}
			if n := manifestGets.Load(); n != 3 {
				t.Errorf("%d GETs of the manifest, want 3 (the client's attempts)", n)
			}
		})
	}
	t.Run("registry down", func(t *testing.T) {
		dst := rtEngine(t)
		_, err := dst.Pull(ctx, "127.0.0.1:1/app/x:v1", engine.PullOptions{Client: rtClient(t.TempDir())})
		if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "tried 3 times") {
			t.Errorf("error %q: want unavailable, connection refused, tried 3 times", err)
		}
	})
}

func TestPullPlatformMissing(t *testing.T) {
	host := rtRegistry(t, registry.Options{}, nil)
	ctx := context.Background()
	client := rtClient(t.TempDir())
	l, d := rtTarGz(t, map[string][]byte{"x": []byte("x")})
	arm := rtPushSynthetic(t, client, host+"/multi/app:arm", [][]byte{l}, []digest.Digest{d}, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	s390 := rtPushSynthetic(t, client, host+"/multi/app:s390x", [][]byte{l}, []digest.Digest{d}, ocispec.Platform{OS: "linux", Architecture: "s390x"})
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{arm, s390}}
	ib, _ := json.Marshal(idx)
	named, _ := reference.ParseNormalizedNamed(host + "/multi/app")
	repo, err := client.Repository(ctx, named, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.PutManifest(ctx, "v1", ocispec.MediaTypeImageIndex, ib); err != nil {
		t.Fatal(err)
	}
	e := rtEngine(t)
	_, err = e.Pull(ctx, host+"/multi/app:v1", engine.PullOptions{Client: client, Platform: "linux/riscv64"})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no manifest for platform linux/riscv64 (the index has: linux/arm64/v8, linux/s390x)") {
		t.Errorf("error %q: want the platforms listed", err)
	}
	// Asked for, another platform's manifest is pulled and named.
	got, err := e.Pull(ctx, host+"/multi/app:v1", engine.PullOptions{Client: client, Platform: "linux/s390x"})
	if err != nil {
		t.Fatal(err)
	}
	if got != digest.FromBytes(ib) {
		t.Errorf("pull returned %s, want the index digest", got)
	}
}

func TestConcurrentPullsFetchSharedLayerOnce(t *testing.T) {
	var gets rtBlobGets
	base, baseID := rtTarGz(t, map[string][]byte{"base": randomBytes(2 << 20)})
	// The shared layer is sent only once both pulls are about to fetch it
	// (each has reported it Waiting), so that they meet at its ingest.
	bothWaiting := make(chan struct{})
	var waiting atomic.Int32
	report := func(ev progress.Event) {
		if ev.Action == "Waiting" && ev.ID == digest.FromBytes(base).Encoded()[:12] && waiting.Add(1) == 2 {
			close(bothWaiting)
		}
	}
	host := rtRegistry(t, registry.Options{}, func(h http.Handler) http.Handler {
		return gets.wrap(h, func(w http.ResponseWriter, r *http.Request, dgst string) http.ResponseWriter {
			if dgst == digest.FromBytes(base).String() {
				select {
				case <-bothWaiting:
				case <-time.After(10 * time.Second):
					t.Error("the second pull never reached the shared layer")
				}
			}
			return w
		})
	})
	ctx := context.Background()
	client := rtClient(t.TempDir())
	a, aID := rtTarGz(t, map[string][]byte{"a": []byte("a")})
	b, bID := rtTarGz(t, map[string][]byte{"b": []byte("b")})
	p := manifest.Platform()
	rtPushSynthetic(t, client, host+"/c/a:1", [][]byte{base, a}, []digest.Digest{baseID, aID}, p)
	rtPushSynthetic(t, client, host+"/c/b:1", [][]byte{base, b}, []digest.Digest{baseID, bID}, p)

	e := rtEngine(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ref := range []string{host + "/c/a:1", host + "/c/b:1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Pull(ctx, ref, engine.PullOptions{Client: client, Progress: report})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, n := gets.served(digest.FromBytes(base)); n != 1 {
		t.Errorf("shared layer fetched %d times, want once", n)
	}
	for _, ref := range []string{host + "/c/a:1", host + "/c/b:1"} {
		if _, ok := rtFiles(t, e, ref)["base"]; !ok {
			t.Errorf("%s lacks the shared layer's file", ref)
		}
	}
}

func TestPushRebuildsMissingBlob(t *testing.T) {
	host := rtRegistry(t, registry.Options{}, nil)
	ctx := context.Background()
	e := rtEngineCache(t, "1g") // the blob is deleted below, as an eviction would
	ref := host + "/app/rebuilt:v1"
	id := rtImport(t, e, ref, map[string][]byte{"data": randomBytes(256 << 10)})
	desc := rtLayerDesc(t, e, ref)
	if err := e.Content.Delete(ctx, desc.Digest); err != nil {
		t.Fatal(err)
	}
	sessions := t.TempDir()
	var log rtLog
	pushed, err := e.Push(ctx, ref, engine.PushOptions{Progress: log.report, Client: rtClient(sessions)})
	if err != nil {
		t.Fatal(err)
	}
	if log.count(": Pushed") != 1 {
		t.Errorf("push output:\n%s", log.String())
	}
	// The rebuilt blob is not kept past gc; the registry's copy is
	// remembered, so the next push sends nothing.
	for _, b := range []string{desc.Digest.String()} {
		_ = e.Content.Delete(ctx, digest.Digest(b))
	}
	if _, err := e.GC(ctx, engine.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	var again rtLog
	if _, err := e.Push(ctx, ref, engine.PushOptions{Progress: again.report, Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	if again.count(": Layer already exists") != 1 || again.count(": Pushed") != 0 {
		t.Errorf("second push output:\n%s", again.String())
	}
	dst := rtEngine(t)
	if _, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	img, err := dst.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID() != id {
		t.Errorf("pulled image %s, want %s (same diffIDs)", img.ID(), id)
	}
	t.Logf("pushed manifest %s; rebuilt layer %s (was %s)", pushed.Digest, img.Manifest.Layers[0].Digest, desc.Digest)
	if diff := cmp.Diff(rtFiles(t, e, ref), rtFiles(t, dst, ref)); diff != "" {
		t.Errorf("files (-local +pulled):\n%s", diff)
	}
}

func TestAllTags(t *testing.T) {
	host := rtRegistry(t, registry.Options{}, nil)
	ctx := context.Background()
	src := rtEngine(t)
	repoName := host + "/app/tags"
	rtImport(t, src, repoName+":v1", nil)
	if err := src.Tag(ctx, repoName+":v1", repoName+":v2"); err != nil {
		t.Fatal(err)
	}
	rtImport(t, src, host+"/app/other:v1", nil)
	sessions := t.TempDir()
	if _, err := src.Push(ctx, repoName+":v1", engine.PushOptions{All: true, Client: rtClient(sessions)}); err == nil {
		t.Error("push --all-tags with a tag succeeded")
	}
	if _, err := src.Push(ctx, repoName, engine.PushOptions{All: true, Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	named, _ := reference.ParseNormalizedNamed(repoName)
	repo, err := rtClient(sessions).Repository(ctx, named, false)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := repo.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, tags); diff != "" {
		t.Errorf("tags pushed (-want +got):\n%s", diff)
	}
	dst := rtEngine(t)
	if _, err := dst.Pull(ctx, repoName, engine.PullOptions{All: true, Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "v2"} {
		if _, err := dst.ResolveImage(ctx, repoName+":"+tag); err != nil {
			t.Errorf("pull --all-tags: %s: %v", tag, err)
		}
	}
	if _, err := dst.ResolveImage(ctx, host+"/app/other:v1"); !errdefs.IsNotFound(err) {
		t.Errorf("pull --all-tags pulled another repository: %v", err)
	}
}

func TestPullDiskFull(t *testing.T) {
	testutil.RequiresRoot(t)
	host := rtRegistry(t, registry.Options{}, nil)
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/app/huge:v1"
	rtImport(t, src, ref, map[string][]byte{"big": randomBytes(12 << 20)})
	sessions := t.TempDir()
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	// A store on a 16 MiB tmpfs holds the blob or the files, not both.
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(root, syscall.MNT_DETACH) })
	dst, err := engine.Open(ctx, engine.Options{Root: root, StorageDriver: "native"})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	_, err = dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "free space in "+root) {
		t.Fatalf("pull onto a full disk: %v, want ENOSPC with advice", err)
	}
	t.Logf("error: %v", err)
	if _, err := dst.ResolveImage(ctx, ref); !errdefs.IsNotFound(err) {
		t.Errorf("image named after a failed pull: %v", err)
	}
	var active []string
	dst.Snap.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
		if info.Kind == snapshot.KindActive {
			active = append(active, info.Name)
		}
		return nil
	})
	if len(active) != 0 {
		t.Errorf("half-unpacked snapshots left: %v", active)
	}
}
