package engine_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/testutil"
)

// rtDistribution starts docker-registry (testutil.Distribution). With
// wrap, a reverse proxy on loopback puts the wrapper in front of it and
// its address is returned instead.
func rtDistribution(t *testing.T, htpasswd string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	addr := testutil.Distribution(t, htpasswd)
	if wrap == nil {
		return addr
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	proxy.FlushInterval = -1
	srv := httptest.NewServer(wrap(proxy))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestDistributionRoundTrip(t *testing.T) {
	testutil.RequiresRoot(t)
	host := rtDistribution(t, "", nil)
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/dist/busybox:v1"
	id := rtImport(t, src, ref, map[string][]byte{"data/blob": randomBytes(1 << 20)})
	sessions := t.TempDir()
	var push rtLog
	desc, err := src.Push(ctx, ref, engine.PushOptions{Progress: push.report, Client: rtClient(sessions)})
	if err != nil {
		t.Fatal(err)
	}
	if push.count(": Pushed") != 1 {
		t.Errorf("push output:\n%s", push.String())
	}
	var again rtLog
	if _, err := src.Push(ctx, ref, engine.PushOptions{Progress: again.report, Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	if again.count(": Layer already exists") != 1 || again.count(": Pushed") != 0 {
		t.Errorf("re-push output:\n%s", again.String())
	}
	dst := rtEngine(t)
	got, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)})
	if err != nil {
		t.Fatal(err)
	}
	img, err := dst.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got != desc.Digest || img.ID() != id {
		t.Errorf("pulled %s (image %s), pushed %s (image %s)", got, img.ID(), desc.Digest, id)
	}
	if diff := cmp.Diff(rtFiles(t, src, ref), rtFiles(t, dst, ref)); diff != "" {
		t.Errorf("files (-pushed +pulled):\n%s", diff)
	}
	other := host + "/dist/copy:v1"
	if err := dst.Tag(ctx, ref, other); err != nil {
		t.Fatal(err)
	}
	var mount rtLog
	if _, err := dst.Push(ctx, other, engine.PushOptions{Progress: mount.report, Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	if mount.count(": Mounted from dist/busybox") != 1 {
		t.Errorf("push to a second repository:\n%s", mount.String())
	}
}

func TestDistributionAuth(t *testing.T) {
	testutil.RequiresRoot(t)
	host := rtDistribution(t, rtHtpasswd(t, "alice", "wonder"), nil)
	ctx := context.Background()
	e := rtEngine(t)
	ref := host + "/private/app:v1"
	rtImport(t, e, ref, nil)
	_, err := e.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir())})
	if !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), `run "strata login `+host+`" first`) {
		t.Fatalf("push without login: %v", err)
	}
	if err := rtClient(t.TempDir()).Login(ctx, host, remote.Credential{Username: "alice", Password: "bad"}); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("login with a bad password: %v", err)
	}
	good := remote.Credential{Username: "alice", Password: "wonder"}
	if err := rtClient(t.TempDir()).Login(ctx, host, good); err != nil {
		t.Fatal(err)
	}
	creds := remote.WithCredentials(func(context.Context, string) (remote.Credential, error) { return good, nil })
	if _, err := e.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir(), creds)}); err != nil {
		t.Fatal(err)
	}
	if _, err := rtEngine(t).Pull(ctx, ref, engine.PullOptions{Client: rtClient(t.TempDir(), creds)}); err != nil {
		t.Fatal(err)
	}
}

func TestDistributionResume(t *testing.T) {
	testutil.RequiresRoot(t)
	const chunk = 1 << 20
	var patches, patchBytes, failAt, blobBytes atomic.Int64
	var cut atomic.Bool
	var onPatch atomic.Value
	onPatch.Store(func(int64) {})
	var cutDigest atomic.Value
	cutDigest.Store("-")
	var gets atomic.Int32
	host := rtDistribution(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				n := patches.Add(1)
				onPatch.Load().(func(int64))(n)
				if n == failAt.Load() {
					http.Error(w, "proxy gave up", http.StatusBadGateway)
					return
				}
				patchBytes.Add(r.ContentLength)
			}
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
				cw := &countingWriter{ResponseWriter: w}
				defer func() { blobBytes.Add(cw.n) }()
				var out http.ResponseWriter = cw
				if !strings.HasSuffix(r.URL.Path, cutDigest.Load().(string)) {
					h.ServeHTTP(cw, r)
					return
				}
				gets.Add(1)
				if cut.CompareAndSwap(true, false) {
					out = &cutWriter{ResponseWriter: cw, limit: 3 << 20}
				}
				h.ServeHTTP(out, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	src := rtEngine(t)
	ref := host + "/dist/big:v1"
	rtImport(t, src, ref, map[string][]byte{"big": randomBytes(6 << 20)})
	desc := rtLayerDesc(t, src, ref)
	img, _ := src.ResolveImage(ctx, ref)

	// A chunk the registry never got is sent again from the offset it
	// reports; nothing else is.
	failAt.Store(3)
	if _, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(t.TempDir(), remote.WithChunkSize(chunk))}); err != nil {
		t.Fatal(err)
	}
	if got, want := patchBytes.Load(), desc.Size+img.ConfigDesc.Size; got != want {
		t.Errorf("push sent %d bytes in PATCHes, want %d", got, want)
	}
	// A push cancelled (Ctrl-C) while a chunk is on its way lets that
	// chunk finish, so distribution's session stays resumable, and the
	// next push sends only the rest.
	e2 := rtEngine(t)
	other := host + "/dist/other:v1"
	rtImport(t, e2, other, map[string][]byte{"big": randomBytes(4 << 20)})
	desc2 := rtLayerDesc(t, e2, other)
	img2, _ := e2.ResolveImage(ctx, other)
	sessions := t.TempDir()
	cctx, cancelPush := context.WithCancel(ctx)
	defer cancelPush()
	onPatch.Store(func(n int64) {
		if n == 2 {
			cancelPush()
		}
	})
	patches.Store(0)
	patchBytes.Store(0)
	failAt.Store(0)
	if _, err := e2.Push(cctx, other, engine.PushOptions{Client: rtClient(sessions, remote.WithChunkSize(chunk))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled push: %v", err)
	}
	onPatch.Store(func(int64) {})
	if got := patchBytes.Load(); got != 2*chunk {
		t.Fatalf("cancelled push sent %d bytes, want 2 whole chunks", got)
	}
	patchBytes.Store(0)
	if _, err := e2.Push(ctx, other, engine.PushOptions{Client: rtClient(sessions, remote.WithChunkSize(chunk))}); err != nil {
		t.Fatal(err)
	}
	if got, want := patchBytes.Load(), desc2.Size-2*chunk+img2.ConfigDesc.Size; got != want {
		t.Errorf("resumed push sent %d bytes, want the %d left", got, want)
	}
	// A pull whose connection is cut at 3 MiB resumes with a Range request.
	cut.Store(true)
	cutDigest.Store(desc.Digest.String())
	dst := rtEngine(t)
	if _, err := dst.Pull(ctx, ref, engine.PullOptions{Client: rtClient(t.TempDir())}); err != nil {
		t.Fatal(err)
	}
	total := blobBytes.Load() - img.ConfigDesc.Size
	t.Logf("layer of %d bytes pulled in %d GETs with %d bytes served (%d again)", desc.Size, gets.Load(), total, total-desc.Size)
	if gets.Load() != 2 {
		t.Errorf("%d GETs of the layer, want 2 (cut, then resumed)", gets.Load())
	}
	if total > desc.Size+desc.Size/20+1<<20 {
		t.Errorf("served %d bytes for a %d byte layer after a cut", total, desc.Size)
	}
	if diff := cmp.Diff(rtFiles(t, src, ref), rtFiles(t, dst, ref)); diff != "" {
		t.Errorf("files (-pushed +pulled):\n%s", diff)
	}
}
