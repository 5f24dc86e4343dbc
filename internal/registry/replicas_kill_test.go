package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/testutil"
)

// replicaEnv makes the test binary a registry server process (see
// TestMain): its value is the JSON of the Options to Serve.
const replicaEnv = "STRATA_TEST_REGISTRY_REPLICA"

// serveReplica is the body of a replica process; it serves until killed.
func serveReplica(cfg string) {
	var opts Options
	if err := json.Unmarshal([]byte(cfg), &opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := Serve(context.Background(), nil, "", opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startReplicaProcess runs one replica in a process of its own and waits
// until it listens.
func startReplicaProcess(t *testing.T, opts Options) (*exec.Cmd, string) {
	t.Helper()
	opts.Addr = freeAddr(t)
	cfg, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), replicaEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	done := make(chan error, 1)
	go func() { // ends when the process exits; only read if it does so early
		_, err := cmd.Process.Wait()
		done <- err
	}()
	waitListening(t, opts.Addr, done)
	return cmd, opts.Addr
}

// retrying sends a request until it gets an answer other than a 5xx or a
// connection failure (a load balancer's clients do the same), up to a
// deadline.
func retrying(ctx context.Context, method, u string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	var last error
	for ctx.Err() == nil {
		rq, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range hdr {
			rq.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			last = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode >= 500 {
			last = fmt.Errorf("%s %s: %d %s %v", method, u, resp.StatusCode, b, err)
			continue
		}
		return resp, b, nil
	}
	return nil, nil, errors.Join(ctx.Err(), last)
}

// pushChunked pushes a one-layer image, the layer in 1 MiB PATCHes. After a
// failed PATCH it asks the session's offset and goes on from there.
func pushChunked(ctx context.Context, base, repo string, layer []byte, progress *atomic.Int64) error {
	resp, _, err := retrying(ctx, "POST", base+"/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST: %d", resp.StatusCode)
	}
	loc := base + resp.Header.Get("Location")
	off := 0
	for off < len(layer) {
		end := min(off+1<<20, len(layer))
		resp, _, err := retrying(ctx, "PATCH", loc, layer[off:end], map[string]string{"Content-Range": fmt.Sprintf("%d-%d", off, end-1)})
		if err != nil {
			return err
		}
		switch resp.StatusCode {
		case http.StatusAccepted:
			off = end
			progress.Add(1)
		case http.StatusRequestedRangeNotSatisfiable:
			// The chunk was stored but the answer was lost: resume at
			// the session's offset.
			st, _, err := retrying(ctx, "GET", loc, nil, nil)
			if err != nil {
				return err
			}
			_, last, _ := strings.Cut(st.Header.Get("Range"), "-")
			n, err := strconv.Atoi(last)
			if err != nil {
				return fmt.Errorf("upload status Range %q", st.Header.Get("Range"))
			}
			off = n + 1
		default:
			return fmt.Errorf("PATCH %d-%d: %d", off, end, resp.StatusCode)
		}
	}
	dgst := digest.FromBytes(layer)
	resp, b, err := retrying(ctx, "PUT", loc+"?digest="+dgst.String(), nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT: %d %s", resp.StatusCode, b)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := digest.FromBytes(cfg)
	if resp, _, err = retrying(ctx, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+cd.String(), cfg, nil); err != nil || resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("config: %v %v", resp, err)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		cd, len(cfg), dgst, len(layer))
	resp, b, err = retrying(ctx, "PUT", base+"/v2/"+repo+"/manifests/v1", []byte(m), map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("manifest: %d %s", resp.StatusCode, b)
	}
	return nil
}

// TestReplicasKill9 kills one of three replica processes with SIGKILL
// during 20 concurrent chunked pushes through a round-robin proxy: the
// clients retry on the others, every image pulls and verifies, and fsck
// finds S3 and the database consistent.
func TestReplicasKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping replica processes in -short mode")
	}
	v := testutil.Versity(t)
	opts := Options{Database: testutil.PostgresDB(t)}
	opts.Storage.S3 = s3Config(t, v, "kill")
	var targets []string
	var procs []*exec.Cmd
	for range 3 {
		cmd, addr := startReplicaProcess(t, opts)
		procs = append(procs, cmd)
		targets = append(targets, "http://"+addr)
	}
	rr := testutil.NewRoundRobin(targets...)
	refused := &rr.Refused
	proxy := httptest.NewServer(rr)
	t.Cleanup(proxy.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const pushes = 20
	layers := make([][]byte, pushes)
	errs := make([]error, pushes)
	var progress atomic.Int64
	var wg sync.WaitGroup
	for i := range pushes {
		layers[i] = make([]byte, 3<<20+i*1000)
		rand.Read(layers[i])
		wg.Add(1)
		go func() { // ends when the push succeeds, fails or ctx ends
			defer wg.Done()
			errs[i] = pushChunked(ctx, proxy.URL, fmt.Sprintf("kill/app%d", i), layers[i], &progress)
		}()
	}
	// Kill replica 1 once the pushes are under way.
	testutil.WaitFor(t, "the pushes under way", func() bool { return progress.Load() >= pushes })
	if err := procs[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	if refused.Load() == 0 {
		t.Fatal("no request met the killed replica: the kill came too late to test anything")
	}
	t.Logf("%d requests failed on the killed replica and were retried", refused.Load())
	for i, layer := range layers {
		repo := fmt.Sprintf("kill/app%d", i)
		resp, m, err := retrying(ctx, "GET", proxy.URL+"/v2/"+repo+"/manifests/v1", nil, map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"})
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(m), digest.FromBytes(layer).String()) {
			t.Fatalf("pull %s manifest: %v %v", repo, resp, err)
		}
		resp, b, err := retrying(ctx, "GET", proxy.URL+"/v2/"+repo+"/blobs/"+digest.FromBytes(layer).String(), nil, nil)
		if err != nil || resp.StatusCode != http.StatusOK || digest.FromBytes(b) != digest.FromBytes(layer) {
			t.Fatalf("pull %s layer: %v %v (%d bytes)", repo, resp, err, len(b))
		}
	}
	g, err := New(nil, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var out strings.Builder
	if err := g.Fsck(ctx, &out); err != nil {
		t.Fatalf("fsck after the kill: %v\n%s", err, out.String())
	}
}
