package registry

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/testutil"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// startSession POSTs a new upload and returns its Location.
func startSession(t testing.TB, srv *httptest.Server, repo string) string {
	t.Helper()
	r := do(t, srv, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST upload: status %d: %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

// storeBlobs lists the committed blobs of the registry's store.
func storeBlobs(t testing.TB, g *Registry) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	if err := g.store.Walk(context.Background(), func(i content.Info) error {
		out = append(out, i.Digest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUploadWrongDigest(t *testing.T) {
	data := []byte("hello, registry")
	wrong := digest.FromString("something else")
	tests := []struct {
		name string
		send func(srv *httptest.Server) resp
	}{
		{"monolithic", func(srv *httptest.Server) resp {
			return do(t, srv, req{method: "POST", path: "/v2/app/blobs/uploads/?digest=" + wrong.String(), body: data})
		}},
		{"put", func(srv *httptest.Server) resp {
			loc := startSession(t, srv, "app")
			return do(t, srv, req{method: "PUT", path: loc + "?digest=" + wrong.String(), body: data})
		}},
		{"patch then put", func(srv *httptest.Server) resp {
			loc := startSession(t, srv, "app")
			if r := do(t, srv, req{method: "PATCH", path: loc, body: data}); r.status != http.StatusAccepted {
				t.Fatalf("PATCH: %d %s", r.status, r.body)
			}
			return do(t, srv, req{method: "PUT", path: loc + "?digest=" + wrong.String()})
		}},
		{"sha512 put", func(srv *httptest.Server) resp {
			loc := startSession(t, srv, "app")
			return do(t, srv, req{method: "PUT", path: loc + "?digest=" + digest.SHA512.FromString("x").String(), body: data})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newTestRegistry(t, Options{})
			r := tt.send(srv)
			if r.status != http.StatusBadRequest || errCode(r.body) != "DIGEST_INVALID" {
				t.Fatalf("got %d %s, want 400 DIGEST_INVALID", r.status, r.body)
			}
			if b := storeBlobs(t, g); len(b) != 0 {
				t.Errorf("blobs stored after a bad digest: %v", b)
			}
			ins, _ := g.store.Ingests(context.Background())
			if len(ins) != 0 {
				t.Errorf("ingests left: %+v", ins)
			}
		})
	}
}

func TestUploadChunks(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	_ = g
	data := randomBytes(t, 3000)
	dgst := digest.FromBytes(data)
	loc := startSession(t, srv, "app")
	patch := func(start, end int, wantStatus int) resp {
		t.Helper()
		r := do(t, srv, req{method: "PATCH", path: loc, body: data[start : end+1],
			header: map[string]string{"Content-Range": fmt.Sprintf("%d-%d", start, end)}})
		if r.status != wantStatus {
			t.Fatalf("PATCH %d-%d: status %d, want %d: %s", start, end, r.status, wantStatus, r.body)
		}
		return r
	}
	patch(0, 999, http.StatusAccepted)
	// Out of order: skipping ahead and going back are both 416, with the
	// offset to resume from.
	for _, rg := range [][2]int{{2000, 2999}, {0, 999}, {500, 1499}} {
		r := patch(rg[0], rg[1], http.StatusRequestedRangeNotSatisfiable)
		if got := r.header.Get("Range"); got != "0-999" {
			t.Errorf("416 Range %q, want 0-999", got)
		}
		if r.header.Get("Location") == "" {
			t.Error("416 without Location")
		}
	}
	// A Content-Length that disagrees with Content-Range is refused.
	r := do(t, srv, req{method: "PATCH", path: loc, body: data[1000:2100],
		header: map[string]string{"Content-Range": "1000-1999"}})
	if r.status != http.StatusBadRequest || errCode(r.body) != "SIZE_INVALID" {
		t.Fatalf("long chunk: %d %s, want 400 SIZE_INVALID", r.status, r.body)
	}
	st := do(t, srv, req{method: "GET", path: loc})
	if st.status != http.StatusNoContent || st.header.Get("Range") != "0-999" {
		t.Fatalf("status after refused chunks: %d Range %q", st.status, st.header.Get("Range"))
	}
	patch(1000, 1999, http.StatusAccepted)
	r = do(t, srv, req{method: "PUT", path: loc + "?digest=" + dgst.String(), body: data[2000:],
		header: map[string]string{"Content-Range": "2000-2999"}})
	if r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != dgst.String() {
		t.Fatalf("PUT: %d %v %s", r.status, r.header, r.body)
	}
	got := do(t, srv, req{method: "GET", path: "/v2/app/blobs/" + dgst.String()})
	if !bytes.Equal(got.body, data) {
		t.Fatal("blob differs from what was uploaded")
	}
	// The session is over.
	if r := do(t, srv, req{method: "GET", path: loc}); r.status != http.StatusNotFound || errCode(r.body) != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("finished session: %d %s", r.status, r.body)
	}
}

// TestUploadShortBody sends a Content-Length larger than the body and hangs
// up: nothing may be stored.
func TestUploadShortBody(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	data := randomBytes(t, 1000)
	dgst := digest.FromBytes(data)
	rawRequest(t, srv, fmt.Sprintf("POST /v2/app/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", dgst), data[:500])
	// The handler finishes asynchronously after the hang-up.
	testutil.WaitFor(t, "the hung-up upload's ingest to go", func() bool { ins, _ := g.store.Ingests(context.Background()); return len(ins) == 0 })
	if b := storeBlobs(t, g); len(b) != 0 {
		t.Fatalf("short body stored %v", b)
	}
	if r := do(t, srv, req{method: "HEAD", path: "/v2/app/blobs/" + dgst.String()}); r.status != http.StatusNotFound {
		t.Fatalf("HEAD after short body: %d", r.status)
	}
}

// TestUploadResumeAfterDisconnect: a client drops mid-PATCH; the bytes that
// arrived stay, GET reports them, and the client finishes from there.
func TestUploadResumeAfterDisconnect(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	data := randomBytes(t, 1<<20)
	dgst := digest.FromBytes(data)
	loc := startSession(t, srv, "app")
	rawRequest(t, srv, fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Range: 0-%d\r\n\r\n", loc, len(data), len(data)-1), data[:300000])
	var rng string
	testutil.WaitFor(t, "the session to hold the 300000 bytes sent", func() bool {
		r := do(t, srv, req{method: "GET", path: loc})
		rng = r.header.Get("Range")
		return r.status == http.StatusNoContent && rng == "0-299999"
	})
	if b := storeBlobs(t, g); len(b) != 0 {
		t.Fatalf("partial blob visible: %v", b)
	}
	// Nothing of the blob is readable yet.
	if r := do(t, srv, req{method: "HEAD", path: "/v2/app/blobs/" + dgst.String()}); r.status != http.StatusNotFound {
		t.Fatalf("HEAD of an unfinished blob: %d", r.status)
	}
	// Resume after a restart of the in-memory state: close idle writers.
	g.mu.Lock()
	for _, u := range g.uploads {
		u.sem <- struct{}{}
		u.closeWriter()
		<-u.sem
	}
	clear(g.uploads)
	g.mu.Unlock()
	r := do(t, srv, req{method: "PATCH", path: loc, body: data[300000:], header: map[string]string{"Content-Range": fmt.Sprintf("300000-%d", len(data)-1)}})
	if r.status != http.StatusAccepted {
		t.Fatalf("resume PATCH: %d %s", r.status, r.body)
	}
	r = do(t, srv, req{method: "PUT", path: loc + "?digest=" + dgst.String()})
	if r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if got := do(t, srv, req{method: "GET", path: "/v2/app/blobs/" + dgst.String()}); !bytes.Equal(got.body, data) {
		t.Fatal("resumed blob differs")
	}
}

func TestUploadCancel(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	loc := startSession(t, srv, "app")
	do(t, srv, req{method: "PATCH", path: loc, body: []byte("some bytes")})
	if r := do(t, srv, req{method: "DELETE", path: loc}); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := do(t, srv, req{method: "GET", path: loc}); r.status != http.StatusNotFound {
		t.Fatalf("GET cancelled: %d", r.status)
	}
	if ins, _ := g.store.Ingests(context.Background()); len(ins) != 0 {
		t.Fatalf("ingest left after cancel: %+v", ins)
	}
	// Another repository cannot reach a session.
	loc = startSession(t, srv, "app")
	other := strings.Replace(loc, "/v2/app/", "/v2/other/", 1)
	if r := do(t, srv, req{method: "GET", path: other}); r.status != http.StatusNotFound {
		t.Fatalf("session seen from another repository: %d", r.status)
	}
}

func TestUploadExpiry(t *testing.T) {
	g, srv := newTestRegistry(t, Options{UploadExpiry: time.Hour})
	loc := startSession(t, srv, "app")
	do(t, srv, req{method: "PATCH", path: loc, body: []byte("abc")})
	if err := g.cleanUploads(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := do(t, srv, req{method: "GET", path: loc}); r.status != http.StatusNoContent {
		t.Fatalf("fresh upload expired: %d", r.status)
	}
	if err := g.cleanUploads(context.Background(), time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := do(t, srv, req{method: "GET", path: loc}); r.status != http.StatusNotFound {
		t.Fatalf("stale upload still there: %d", r.status)
	}
	if ins, _ := g.store.Ingests(context.Background()); len(ins) != 0 {
		t.Fatalf("stale ingest left: %+v", ins)
	}
}

// TestConcurrentPushSameBlob: many clients push the same blob at once, by
// every upload style; all succeed and one copy is stored.
func TestConcurrentPushSameBlob(t *testing.T) {
	g, srv := newTestRegistry(t, Options{})
	data := randomBytes(t, 256<<10)
	dgst := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan string, 32)
	for i := range 12 {
		wg.Go(func() {
			repo := fmt.Sprintf("r%d", i%3)
			var r resp
			if i%2 == 0 {
				r = do(t, srv, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + dgst.String(), body: data})
			} else {
				loc := startSession(t, srv, repo)
				do(t, srv, req{method: "PATCH", path: loc, body: data[:1000]})
				r = do(t, srv, req{method: "PUT", path: loc + "?digest=" + dgst.String(), body: data[1000:]})
			}
			if r.status != http.StatusCreated {
				errs <- fmt.Sprintf("push %d: %d %s", i, r.status, r.body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if b := storeBlobs(t, g); len(b) != 1 || b[0] != dgst {
		t.Fatalf("store holds %v", b)
	}
	for _, repo := range []string{"r0", "r1", "r2"} {
		if r := do(t, srv, req{method: "HEAD", path: "/v2/" + repo + "/blobs/" + dgst.String()}); r.status != http.StatusOK {
			t.Errorf("HEAD in %s: %d", repo, r.status)
		}
	}
}

func TestMount(t *testing.T) {
	_, srv := newTestRegistry(t, Options{})
	dgst := pushBlob(t, srv, "src", []byte("layer"))
	tests := []struct {
		name, query string
		status      int
	}{
		{"from", "?mount=" + dgst.String() + "&from=src", http.StatusCreated},
		{"from a repository without it", "?mount=" + dgst.String() + "&from=empty", http.StatusAccepted},
		{"from an invalid name", "?mount=" + dgst.String() + "&from=../src", http.StatusAccepted},
		{"anonymous", "?mount=" + dgst.String(), http.StatusCreated},
		{"missing blob", "?mount=" + digest.FromString("nope").String() + "&from=src", http.StatusAccepted},
		{"bad digest", "?mount=sha256:xyz&from=src", http.StatusAccepted},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := fmt.Sprintf("dst%d", i)
			r := do(t, srv, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/" + tt.query})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			head := do(t, srv, req{method: "HEAD", path: "/v2/" + repo + "/blobs/" + dgst.String()})
			if want := tt.status == http.StatusCreated; (head.status == http.StatusOK) != want {
				t.Errorf("HEAD in %s after mount: %d", repo, head.status)
			}
		})
	}
}

// rawRequest writes head and body on a fresh connection and hangs up
// without reading, as a client that dies mid-upload does.
func rawRequest(t testing.TB, srv *httptest.Server, head string, body []byte) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(c)
	w.WriteString(head)
	w.Write(body)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// Hang up, and wait until the server has read to the hang-up and
	// closed its side (it may answer first).
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("waiting for the server to close: %v", err)
	}
	c.Close()
}
