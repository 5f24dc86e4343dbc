package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/testutil"
)

// replicaSet is n registry servers sharing one versitygw bucket and one
// PostgreSQL database, each on its own loopback server, behind a
// round-robin proxy that sends every request to the next replica.
type replicaSet struct {
	s3    *testutil.VersityGW
	regs  []*Registry
	srvs  []*httptest.Server
	proxy *httptest.Server
	rr    *testutil.RoundRobin
}

func startReplicas(t *testing.T, n int, opts Options) *replicaSet {
	t.Helper()
	v := testutil.Versity(t)
	opts.Storage.S3 = s3Config(t, v, "replicas")
	opts.Database = testutil.PostgresDB(t)
	rs := &replicaSet{s3: v}
	var targets []string
	for range n {
		g, err := New(nil, "", opts)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(g)
		t.Cleanup(func() {
			srv.Close()
			g.Close()
		})
		rs.regs, rs.srvs, targets = append(rs.regs, g), append(rs.srvs, srv), append(targets, srv.URL)
	}
	rs.rr = testutil.NewRoundRobin(targets...)
	rs.proxy = httptest.NewServer(rs.rr)
	t.Cleanup(rs.proxy.Close)
	return rs
}

func (rs *replicaSet) checkSpread(t *testing.T) {
	t.Helper()
	if i := rs.rr.Idle(); i >= 0 {
		t.Errorf("replica %d served no request", i)
	}
}

// skipUnderRace: the suite through replicas checks the protocol, which the
// run without -race covers; the concurrency tests below run under both.
func skipUnderRace(t *testing.T) {
	if raceDetector {
		t.Skip("protocol suite through replicas: run without -race (scripts/test.sh does)")
	}
}

func TestReplicasConformanceAnonymous(t *testing.T) {
	skipUnderRace(t)
	conformanceRunner(t)
	rs := startReplicas(t, 3, Options{AccessPolicy: deletes})
	runConformance(t, rs.proxy.URL, nil)
	rs.checkSpread(t)
	if err := rs.regs[0].Fsck(context.Background(), nil); err != nil {
		t.Fatalf("fsck after the suite: %v", err)
	}
}

func TestReplicasConformanceHtpasswd(t *testing.T) {
	skipUnderRace(t)
	conformanceRunner(t)
	pw := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, pw, map[string]string{"alice": "s3cret pass"})
	rs := startReplicas(t, 3, Options{HtpasswdPath: pw, Realm: "test", AccessPolicy: deletes})
	runConformance(t, rs.proxy.URL, nil, "alice", "s3cret pass")
	rs.checkSpread(t)
}

// TestReplicasChunksAlternate sends each chunk of one upload to another
// replica, straight (no proxy), with a stale chunk in between: the session
// lives in the database, and a chunk at the wrong offset is refused.
func TestReplicasChunksAlternate(t *testing.T) {
	rs := startReplicas(t, 3, Options{})
	data := make([]byte, 11<<20+123)
	rand.Read(data)
	dgst := digest.FromBytes(data)
	srv := func(i int) *httptest.Server { return rs.srvs[i%len(rs.srvs)] }
	r := do(t, srv(0), req{method: "POST", path: "/v2/alt/blobs/uploads/"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	chunks := []int{0, 3 << 20, 3<<20 + 10, 9 << 20, len(data)}
	for i := 0; i+1 < len(chunks); i++ {
		a, b := chunks[i], chunks[i+1]
		r := do(t, srv(i+1), req{method: "PATCH", path: loc, body: data[a:b], header: map[string]string{"Content-Range": fmt.Sprintf("%d-%d", a, b-1)}})
		if r.status != http.StatusAccepted {
			t.Fatalf("PATCH %d-%d on replica %d: %d %s", a, b, (i+1)%3, r.status, r.body)
		}
		if got := r.header.Get("Range"); got != fmt.Sprintf("0-%d", b-1) {
			t.Fatalf("Range after chunk %d: %q", i, got)
		}
		// A replay of the chunk just sent, on yet another replica.
		if r := do(t, srv(i+2), req{method: "PATCH", path: loc, body: data[a:b], header: map[string]string{"Content-Range": fmt.Sprintf("%d-%d", a, b-1)}}); r.status != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("replayed chunk: %d, want 416", r.status)
		}
	}
	if r := do(t, srv(2), req{method: "GET", path: loc}); r.status != http.StatusNoContent || r.header.Get("Range") != fmt.Sprintf("0-%d", len(data)-1) {
		t.Fatalf("status on another replica: %d %q", r.status, r.header.Get("Range"))
	}
	if r := do(t, srv(1), req{method: "PUT", path: loc + "?digest=" + dgst.String()}); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	for i := range rs.srvs {
		r := do(t, srv(i), req{method: "GET", path: "/v2/alt/blobs/" + dgst.String()})
		if r.status != http.StatusOK || !bytes.Equal(r.body, data) {
			t.Fatalf("GET on replica %d: %d, %d bytes", i, r.status, len(r.body))
		}
	}
	// Nothing of the session is left in the bucket.
	if err := rs.regs[0].Fsck(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestReplicasS3Restart stops the S3 server mid-test: requests that need
// it fail with 503 (never 500), and all is well once it is back.
func TestReplicasS3Restart(t *testing.T) {
	rs := startReplicas(t, 2, Options{})
	blob := []byte("before the outage")
	bd := digest.FromBytes(blob)
	if r := do(t, rs.proxy, req{method: "POST", path: "/v2/out/blobs/uploads/?digest=" + bd.String(), body: blob}); r.status != http.StatusCreated {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	// A session starts with nothing in S3 (its row is in PostgreSQL).
	r := do(t, rs.proxy, req{method: "POST", path: "/v2/out/blobs/uploads/"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d", r.status)
	}
	loc := r.header.Get("Location")
	rs.s3.Stop()
	other := []byte("during the outage")
	od := digest.FromBytes(other)
	for _, rq := range []req{
		{method: "GET", path: "/v2/out/blobs/" + bd.String()},
		{method: "HEAD", path: "/v2/out/blobs/" + bd.String()},
		{method: "POST", path: "/v2/out/blobs/uploads/?digest=" + od.String(), body: other},
		{method: "PATCH", path: loc, body: other},
		{method: "PUT", path: loc + "?digest=" + od.String(), body: other},
	} {
		r := do(t, rs.proxy, rq)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s %s while S3 is down: %d %s, want 503", rq.method, rq.path, r.status, r.body)
		}
	}
	rs.s3.Start()
	if r := do(t, rs.proxy, req{method: "GET", path: "/v2/out/blobs/" + bd.String()}); r.status != http.StatusOK || !bytes.Equal(r.body, blob) {
		t.Fatalf("GET after the restart: %d %q", r.status, r.body)
	}
	if r := do(t, rs.proxy, req{method: "PUT", path: loc + "?digest=" + od.String(), body: other}); r.status != http.StatusCreated {
		t.Fatalf("the session started before the outage, finished after it: %d %s", r.status, r.body)
	}
	if err := rs.regs[1].Fsck(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

// pushImage pushes a one-layer image through srv and returns the
// manifest's digest.
func pushImage(t *testing.T, srv *httptest.Server, repo, tag string, layer []byte) digest.Digest {
	t.Helper()
	d, err := pushImageErr(srv.URL, repo, tag, layer)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// pushImageErr is pushImage for goroutines: it returns what failed.
func pushImageErr(base, repo, tag string, layer []byte) (digest.Digest, error) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	send := func(method, path, ctype string, body []byte, want int) error {
		rq, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if ctype != "" {
			rq.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b.String())
		}
		return nil
	}
	for _, b := range [][]byte{cfg, layer} {
		if err := send("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "", b, http.StatusCreated); err != nil {
			return "", err
		}
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
	if err := send("PUT", "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", []byte(m), http.StatusCreated); err != nil {
		return "", err
	}
	return digest.FromBytes([]byte(m)), nil
}

// TestReplicasGCDuringPushes runs GC on replica A while replica B
// receives pushes: everything tagged, and everything inside the grace
// window, stays; fsck is clean; an image deleted before the window is
// collected.
func TestReplicasGCDuringPushes(t *testing.T) {
	rs := startReplicas(t, 2, Options{AccessPolicy: deletes})
	a, b := rs.regs[0], rs.srvs[1]
	const grace = 4 * time.Second
	junk := make([]byte, 4096)
	rand.Read(junk)
	old := pushImage(t, b, "gc/old", "tmp", junk)
	if r := do(t, b, req{method: "DELETE", path: "/v2/gc/old/manifests/" + old.String()}); r.status != http.StatusAccepted {
		t.Fatalf("delete: %d", r.status)
	}
	// The deleted image must age past the window: time passing is what
	// grace is about, not a synchronisation.
	time.Sleep(grace + time.Second)
	type pushed struct {
		repo, tag string
		layer     []byte
	}
	var mu sync.Mutex
	var done []pushed
	var failed []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() { // ends when stop closes or a push fails
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				layer := make([]byte, 2048)
				rand.Read(layer)
				p := pushed{fmt.Sprintf("gc/w%d", w), fmt.Sprintf("t%d", i), layer}
				_, err := pushImageErr(b.URL, p.repo, p.tag, p.layer)
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
					mu.Unlock()
					return
				}
				done = append(done, p)
				mu.Unlock()
			}
		}()
	}
	var collected GCStats
	for range 3 {
		st, err := a.GC(context.Background(), GCOptions{Grace: grace})
		if err != nil {
			t.Fatal(err)
		}
		collected.Blobs += st.Blobs
		collected.Links += st.Links
	}
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("pushes during GC failed: %v", failed)
	}
	if collected.Blobs < 2 {
		t.Errorf("GC did not collect the deleted image's manifest and layer: %+v", collected)
	}
	if r := do(t, b, req{method: "HEAD", path: "/v2/gc/old/blobs/" + digest.FromBytes(junk).String()}); r.status != http.StatusNotFound {
		t.Errorf("deleted image's layer after GC: %d", r.status)
	}
	for _, p := range done {
		r := do(t, b, req{method: "GET", path: "/v2/" + p.repo + "/blobs/" + digest.FromBytes(p.layer).String()})
		if r.status != http.StatusOK || !bytes.Equal(r.body, p.layer) {
			t.Fatalf("layer of %s:%s after GC: %d", p.repo, p.tag, r.status)
		}
		if r := do(t, rs.proxy, req{method: "HEAD", path: "/v2/" + p.repo + "/manifests/" + p.tag}); r.status != http.StatusOK {
			t.Fatalf("manifest %s:%s after GC: %d", p.repo, p.tag, r.status)
		}
	}
	var out strings.Builder
	if err := a.Fsck(context.Background(), &out); err != nil {
		t.Fatalf("fsck after GC during %d pushes: %v\n%s", len(done), err, out.String())
	}
	t.Logf("%d images pushed during GC; GC removed %+v", len(done), collected)
}

// TestS3Redirect: with storage.s3.redirect, a blob GET answers 307 to a
// presigned S3 URL, which serves the bytes (ranges too) without the
// registry; HEAD still answers itself.
func TestS3Redirect(t *testing.T) {
	v := testutil.Versity(t)
	opts := Options{Database: testutil.PostgresDB(t)}
	opts.Storage.S3 = s3Config(t, v, "redirect")
	opts.Storage.S3.Redirect = true
	g, err := New(nil, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	blob := make([]byte, 100000)
	rand.Read(blob)
	dgst := digest.FromBytes(blob)
	if r := do(t, srv, req{method: "POST", path: "/v2/red/blobs/uploads/?digest=" + dgst.String(), body: blob}); r.status != http.StatusCreated {
		t.Fatalf("push: %d", r.status)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv.URL + "/v2/red/blobs/" + dgst.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, v.Endpoint+"/") {
		t.Fatalf("GET: %d Location %q, want 307 to %s", resp.StatusCode, loc, v.Endpoint)
	}
	rq, _ := http.NewRequest("GET", loc, nil)
	rq.Header.Set("Range", "bytes=10-19")
	resp, err = http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got.Bytes(), blob[10:20]) {
		t.Fatalf("ranged GET of the presigned URL: %d %q", resp.StatusCode, got.Bytes())
	}
	if r := do(t, srv, req{method: "HEAD", path: "/v2/red/blobs/" + dgst.String()}); r.status != http.StatusOK || r.header.Get("Content-Length") != "100000" {
		t.Fatalf("HEAD: %d %q", r.status, r.header.Get("Content-Length"))
	}
}
