package registry

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/testutil"
)

// TestHelperRegistryServer is not a test: TestKillDuringPushes runs the
// test binary with it as a registry server it can kill -9. It also serves
// for load tools by hand:
//
//	go test -c -o /tmp/regtest ./internal/registry
//	STRATA_REGISTRY_HELPER_DIR=/tmp/r STRATA_REGISTRY_HELPER_ADDR=127.0.0.1:5101 \
//	  [STRATA_REGISTRY_HELPER_HTPASSWD=FILE] /tmp/regtest -test.run '^TestHelperRegistryServer$'

func TestHelperRegistryServer(t *testing.T) {
	dir := os.Getenv("STRATA_REGISTRY_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestKillDuringPushes")
	}
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Addr: os.Getenv("STRATA_REGISTRY_HELPER_ADDR"), HtpasswdPath: os.Getenv("STRATA_REGISTRY_HELPER_HTPASSWD")}
	err = Serve(context.Background(), store, filepath.Join(dir, "registry"), opts)
	t.Fatal(err)
}

func startHelper(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRegistryServer$")
	cmd.Env = append(os.Environ(), "STRATA_REGISTRY_HELPER_DIR="+dir, "STRATA_REGISTRY_HELPER_ADDR="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // ends when the helper dies
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	waitListening(t, addr, done)
	return cmd
}

// chunkedPush uploads data in 64 KiB PATCHes from offset off of the session
// at loc (starting one when loc is empty) and finishes it. It returns the
// session so that an interrupted push can be resumed. Each accepted PATCH
// adds one to accepted when it is not nil.
func chunkedPush(base, repo string, data []byte, loc string, off int, accepted *atomic.Int64) (string, error) {
	const chunk = 64 << 10
	client := &http.Client{Timeout: 10 * time.Second}
	if loc == "" {
		res, err := client.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
		if err != nil {
			return "", err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			return "", fmt.Errorf("POST: %s", res.Status)
		}
		loc = res.Header.Get("Location")
	}
	for off < len(data) {
		end := min(off+chunk, len(data))
		req, _ := http.NewRequest("PATCH", base+loc, bytes.NewReader(data[off:end]))
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		res, err := client.Do(req)
		if err != nil {
			return loc, err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			return loc, fmt.Errorf("PATCH %d: %s", off, res.Status)
		}
		if accepted != nil {
			accepted.Add(1)
		}
		off = end
	}
	req, _ := http.NewRequest("PUT", base+loc+"?digest="+digest.FromBytes(data).String(), nil)
	res, err := client.Do(req)
	if err != nil {
		return loc, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return loc, fmt.Errorf("PUT: %s", res.Status)
	}
	return loc, nil
}

// TestKillDuringPushes kills the server with SIGKILL during 50 concurrent
// chunked pushes, restarts it, and checks that every stored blob verifies,
// no partial blob is served, and every interrupted push resumes from the
// offset the server reports.
func TestKillDuringPushes(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test skipped in -short mode")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	srv := startHelper(t, dir, addr)

	const pushes = 50
	blobs := make([][]byte, pushes)
	locs := make([]string, pushes)
	for i := range blobs {
		blobs[i] = randomBytes(t, 1<<20+i)
	}
	// Kill once a fifth of all chunks have been accepted: pushes are then
	// mid-way whatever the machine's load (a fixed sleep could come before
	// the first PATCH or after the last PUT on a busy machine).
	var accepted atomic.Int64
	chunksPerPush := int64((1<<20)/(64<<10) + 1)
	var wg sync.WaitGroup
	for i := range pushes {
		wg.Go(func() { locs[i], _ = chunkedPush(base, "crash", blobs[i], "", 0, &accepted) })
	}
	if !testutil.Poll(testutil.Patience, func() bool { return accepted.Load() >= pushes*chunksPerPush/5 }) {
		t.Fatalf("only %d chunks accepted in %v", accepted.Load(), testutil.Patience)
	}
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	startHelper(t, dir, addr)
	var out strings.Builder
	if err := RemoteFsck(context.Background(), base, RemoteOptions{}, &out); err != nil {
		t.Fatalf("fsck after kill -9: %v\n%s", err, out.String())
	}
	resumed, finished := 0, 0
	for i, data := range blobs {
		dgst := digest.FromBytes(data)
		res, err := http.Get(base + "/v2/crash/blobs/" + dgst.String())
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("blob %d served with wrong bytes", i)
			}
			finished++
			continue
		}
		// Interrupted: resume from the reported offset (a "0-0" from a
		// 64 KiB-chunked push means nothing arrived).
		off := 0
		loc := locs[i]
		if loc != "" {
			st, err := http.Get(base + loc)
			if err != nil {
				t.Fatal(err)
			}
			st.Body.Close()
			if st.StatusCode == http.StatusNoContent {
				n, _ := strconv.Atoi(strings.TrimPrefix(st.Header.Get("Range"), "0-"))
				if n > 0 {
					off = n + 1
				}
			} else {
				loc = "" // never started
			}
		}
		if off > 0 {
			resumed++
		}
		if _, err := chunkedPush(base, "crash", data, loc, off, nil); err != nil {
			t.Fatalf("resume push %d from %d: %v", i, off, err)
		}
	}
	t.Logf("after kill -9: %d pushes had finished, %d resumed from a non-zero offset, %d restarted", finished, resumed, pushes-finished-resumed)
	if resumed == 0 {
		t.Error("no push was caught mid-way; the kill came too late or too early")
	}
	if err := RemoteFsck(context.Background(), base, RemoteOptions{}, &out); err != nil {
		t.Fatalf("fsck after resuming: %v\n%s", err, out.String())
	}
}
