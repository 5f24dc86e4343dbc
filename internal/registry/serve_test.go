package registry

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/testutil"
)

// TestServeGracefulShutdown: cancelling Serve's context lets an upload in
// flight finish before Serve returns.
func TestServeGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, store, filepath.Join(dir, "registry"), Options{Addr: addr}) }()
	waitListening(t, addr, done)
	base := "http://" + addr

	data := []byte(strings.Repeat("slow upload ", 1000))
	dgst := digest.FromBytes(data)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/v2/app/blobs/uploads/?digest="+dgst.String(), pr)
	req.ContentLength = int64(len(data))
	resc := make(chan *http.Response, 1)
	go func() { // ends when the server answers or the request fails
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			resc <- nil
			return
		}
		res.Body.Close()
		resc <- res
	}()
	pw.Write(data[:100])
	// The handler is reading the body once it has opened the ingest.
	testutil.WaitFor(t, "the slow upload's ingest", func() bool { ins, _ := store.Ingests(context.Background()); return len(ins) > 0 })
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	pw.Write(data[100:])
	pw.Close()
	if res := <-resc; res == nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight upload: %v", res)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := store.Info(context.Background(), dgst); err != nil {
		t.Fatalf("blob of the in-flight upload: %v", err)
	}
}

func TestRemoteGC(t *testing.T) {
	_, srv := newTestRegistry(t, Options{})
	dgst := pushBlob(t, srv, "app", []byte("x"))
	var out strings.Builder
	if err := RemoteGC(context.Background(), srv.URL, RemoteOptions{}, GCOptions{DryRun: true, Grace: time.Nanosecond, Force: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would delete blob "+dgst.String()) {
		t.Errorf("report:\n%s", out.String())
	}
	out.Reset()
	if err := RemoteFsck(context.Background(), srv.URL, RemoteOptions{}, &out); err != nil {
		t.Fatalf("fsck: %v\n%s", err, out.String())
	}
}
