package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/testutil"
)

func send(t *testing.T, ts *httptest.Server, method, path, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// snapshots counts the store's snapshots: the native snapshotter's
// directories (a front end's test reads the store, not the snapshotter's
// package).
func snapshots(t *testing.T, e *engine.Engine) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.Root(), "snapshots", e.Driver(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Bad input over raw HTTP gets docker's error JSON with a clear message, and
// a refused create leaves no container, snapshot or name behind.
func TestBadInput(t *testing.T) {
	ts, e := serverEngine(t)
	before := snapshots(t, e)
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"create malformed", "POST", "/containers/create?name=x", `{"Image": "bb",`, 400, "malformed JSON"},
		{"create not an object", "POST", "/containers/create?name=x", `[1, 2]`, 400, "malformed JSON"},
		{"create wrong type", "POST", "/containers/create?name=x", `{"Image": "bb", "Cmd": 7}`, 400, "malformed JSON"},
		{"create unknown field", "POST", "/containers/create?name=x", `{"Image": "bb", "Bogus": 1}`, 400, "Config.Bogus is not supported by Strata"},
		{"create unknown host field", "POST", "/containers/create?name=x", `{"Image": "bb", "HostConfig": {"BlkioWeight": 300}}`, 400, "HostConfig.BlkioWeight is not supported by Strata"},
		{"create bad port", "POST", "/containers/create?name=x", `{"Image": "bb", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "notaport"}]}}}`, 400, "notaport"},
		{"create bad name", "POST", "/containers/create?name=-bad/name", `{"Image": "bb", "Cmd": ["true"]}`, 400, "-bad/name"},
		{"create no image", "POST", "/containers/create?name=x", `{}`, 400, "Config.Image is required"},
		{"create missing image", "POST", "/containers/create?name=x", `{"Image": "nosuch"}`, 404, "No such image: nosuch"},
		{"exec malformed", "POST", "/containers/nosuch/exec", `{`, 404, "No such container: nosuch"},
		{"network malformed", "POST", "/networks/create", `{"Name": `, 400, "malformed JSON"},
		{"auth malformed", "POST", "/auth", `nope`, 400, "malformed JSON"},
		{"version too old", "GET", "/v1.40/version", ``, 400, "client version 1.40 is too old. Minimum supported API version is 1.41, please upgrade your client to a newer version"},
		{"version too new", "GET", "/v1.51/info", ``, 400, "client version 1.51 is too new. Maximum supported API version is 1.50"},
		{"bad filters", "GET", "/containers/json?filters=%7B", ``, 400, "invalid filters"},
		{"bad stop timeout", "POST", "/containers/nosuch/stop?t=soon", ``, 400, "invalid t"},
		{"bad signal", "POST", "/containers/nosuch/kill?signal=SIGNOPE", ``, 400, "SIGNOPE"},
		{"bad wait condition", "POST", "/containers/nosuch/wait?condition=whenever", ``, 404, "No such container"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := send(t, ts, c.method, c.path, c.body)
			if a.status != c.status || !strings.HasPrefix(a.body, `{"message":"`) || !strings.Contains(a.body, c.msg) {
				t.Errorf("%s %s %s = %d %s, want %d with %q", c.method, c.path, c.body, a.status, a.body, c.status, c.msg)
			}
		})
	}
	if a := call(t, ts, "GET", "/containers/json?all=1"); a.body != "[]\n" {
		t.Errorf("containers after the refused creates: %s", a.body)
	}
	if n := snapshots(t, e); n != before {
		t.Errorf("snapshots: %d before the refused creates, %d after", before, n)
	}
	// The name x is free.
	if a := send(t, ts, "POST", "/containers/create?name=x", `{"Image": "bb", "Cmd": ["true"]}`); a.status != 201 {
		t.Errorf("create x after the refusals: %d %s", a.status, a.body)
	}
}

// Concurrent requests on one container: of many creates with one name one
// wins (the others 409), of many renames one, many removes leave it
// gone, and nothing is left.
func TestConcurrentOnOneContainer(t *testing.T) {
	ts, e := serverEngine(t)
	before := snapshots(t, e)
	count := func(f func() int) map[int]int {
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f()
				mu.Lock()
				got[s]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	got := count(func() int {
		return send(t, ts, "POST", "/containers/create?name=one", `{"Image": "bb", "Cmd": ["true"]}`).status
	})
	if got[201] != 1 || got[409] != 7 {
		t.Errorf("8 creates of one name: %v, want one 201 and seven 409", got)
	}
	got = count(func() int { return send(t, ts, "POST", "/containers/one/rename?name=two", ``).status })
	if got[204] != 1 {
		t.Errorf("8 renames of one container: %v, want one 204", got)
	}
	got = count(func() int { return send(t, ts, "DELETE", "/containers/two", ``).status })
	if got[204] < 1 || got[204]+got[404] != 8 {
		t.Errorf("8 removes of one container: %v, want 204 or 404 each, one 204 at least", got)
	}
	if a := call(t, ts, "GET", "/containers/json?all=1"); a.body != "[]\n" {
		t.Errorf("containers after the removes: %s", a.body)
	}
	if n := snapshots(t, e); n != before {
		t.Errorf("snapshots: %d before, %d after", before, n)
	}
}

// A client gone mid-stream (a save read partly) and a hijacked attach
// closed before start leave no goroutine behind, and the container can be
// removed.
func TestClientsGoneEarly(t *testing.T) {
	ts, _ := serverEngine(t)
	if a := send(t, ts, "POST", "/containers/create?name=held", `{"Image": "bb", "Cmd": ["true"], "AttachStdout": true}`); a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	call(t, ts, "GET", "/_ping")
	ts.Client().CloseIdleConnections()
	base := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		// docker save, abandoned after its first bytes.
		resp, err := ts.Client().Get(ts.URL + "/images/get?names=bb")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, make([]byte, 512))
		resp.Body.Close()

		// docker run's attach, hijacked, closed before start.
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1.50/containers/held/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(line, "101") {
			t.Fatalf("attach: %q %v", line, err)
		}
		conn.Close()
	}
	if a := send(t, ts, "DELETE", "/containers/held", ``); a.status != 204 {
		t.Errorf("remove after the abandoned attaches: %d %s", a.status, a.body)
	}
	ts.Client().CloseIdleConnections()
	if !testutil.Poll(testutil.Patience, func() bool { return runtime.NumGoroutine() <= base+2 }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after\n%s", base, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}
