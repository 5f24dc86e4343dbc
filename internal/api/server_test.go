package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"

	"github.com/strata-project/strata/internal/api"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/testutil"
)

// server serves the API over a fresh store holding a busybox image "bb".
func server(t *testing.T) *httptest.Server {
	t.Helper()
	ts, _ := serverEngine(t)
	return ts
}

// serverEngine is server with the engine behind it.
func serverEngine(t *testing.T) (*httptest.Server, *engine.Engine) {
	t.Helper()
	testutil.RequiresBusybox(t)
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.Options{Root: filepath.Join(t.TempDir(), "store"), StorageDriver: "native"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	if _, err := e.Import(ctx, engine.ImportOptions{Source: rootfs, Ref: "bb:latest", Changes: []string{`LABEL team=core`}}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.New(e, api.Options{Version: "test"}))
	t.Cleanup(ts.Close)
	return ts, e
}

type answer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, ts *httptest.Server, method, path string) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// Status codes and error bodies as dockerd's, over raw HTTP.
func TestStatusAndErrors(t *testing.T) {
	ts := server(t)
	dangling := url.QueryEscape(`{"dangling":{"true":true}}`)
	for _, c := range []struct {
		name, method, path string
		status             int
		body               string // a substring; errors are {"message":...}
	}{
		{"ping", "GET", "/_ping", 200, "OK"},
		{"ping head", "HEAD", "/_ping", 200, ""},
		{"versioned ping", "GET", "/v1.41/_ping", 200, "OK"},
		{"version unversioned", "GET", "/version", 200, `"ApiVersion":"1.50"`},
		{"too old", "GET", "/v1.12/version", 400, `{"message":"client version 1.12 is too old. Minimum supported API version is 1.41`},
		{"too new", "GET", "/v1.99/version", 400, `too new`},
		{"images", "GET", "/v1.50/images/json", 200, `"RepoTags":["bb:latest"]`},
		{"images label", "GET", "/images/json", 200, `"team":"core"`},
		{"no dangling", "GET", "/images/json?filters=" + dangling, 200, "[]"},
		{"bad filters", "GET", "/images/json?filters=%7Bbogus", 400, `"message":"invalid filters`},
		{"unknown filter", "GET", "/images/json?filters=" + url.QueryEscape(`{"colour":{"red":true}}`), 400, `invalid filter 'colour'`},
		{"inspect", "GET", "/images/bb/json", 200, `"Id":"sha256:`},
		{"inspect missing", "GET", "/images/nosuch/json", 404, `{"message":"No such image: nosuch"}`},
		{"history", "GET", "/images/bb:latest/history", 200, `"Comment":"Imported from`},
		{"rmi missing", "DELETE", "/images/nosuch", 404, `No such image: nosuch`},
		{"tag without repo", "POST", "/images/bb/tag", 400, `repo`},
		{"pull without name", "POST", "/images/create", 400, `fromImage is required`},
		{"import from a URL", "POST", "/images/create?fromSrc=http://127.0.0.1:1/x.tar", 400, `imports the request body only (fromSrc=-)`},
		{"search", "GET", "/images/search?term=x", 501, `search is not supported`},
		{"container missing", "GET", "/containers/nosuch/json", 404, `No such container: nosuch`},
		{"network missing", "GET", "/networks/nosuch", 404, `network nosuch not found`},
		{"not yet", "GET", "/containers/x/attach/ws", 501, `GET /containers/x/attach/ws is not served`},
		{"top missing", "GET", "/containers/nosuch/top", 404, `No such container: nosuch`},
		{"changes missing", "GET", "/containers/nosuch/changes", 404, `No such container: nosuch`},
		{"export missing", "GET", "/containers/nosuch/export", 404, `No such container: nosuch`},
		{"rename without name", "POST", "/containers/nosuch/rename", 400, `the new name is required`},
		{"rename missing", "POST", "/containers/nosuch/rename?name=x", 404, `No such container: nosuch`},
		{"resize bad size", "POST", "/containers/nosuch/resize?h=x&w=80", 400, `want the terminal's rows and columns`},
		{"resize missing", "POST", "/containers/nosuch/resize?h=24&w=80", 404, `No such container: nosuch`},
		{"update missing", "POST", "/containers/nosuch/update", 404, `No such container: nosuch`},
		{"commit without container", "POST", "/commit", 400, `container is required`},
		{"commit missing", "POST", "/commit?container=nosuch", 404, `No such container: nosuch`},
		{"container prune", "POST", "/containers/prune", 200, `{"ContainersDeleted":[],"SpaceReclaimed":0}`},
		{"container prune filter", "POST", "/containers/prune?filters=" + url.QueryEscape(`{"bogus":{"1h":true}}`), 400, `invalid filter 'bogus'`},
		{"system df", "GET", "/v1.41/system/df", 200, `"RepoTags":["bb:latest"]`},
		{"distribution", "GET", "/distribution/bb/json", 404, `no distribution endpoint`},
		{"nodes", "GET", "/nodes", 503, `not a swarm manager`},
		{"volumes", "GET", "/volumes", 200, `{"Volumes":[],"Warnings":[]}`},
		{"volume missing", "GET", "/volumes/nosuch", 404, `No such volume: nosuch`},
		{"volume rm missing", "DELETE", "/volumes/nosuch", 404, `No such volume: nosuch`},
		{"volume rm missing force", "DELETE", "/volumes/nosuch?force=1", 204, ``},
		{"volume create malformed", "POST", "/volumes/create", 400, `malformed JSON`},
		{"volume filter", "GET", "/volumes?filters=" + url.QueryEscape(`{"colour":{"red":true}}`), 400, `invalid filter 'colour'`},
		{"volume prune", "POST", "/volumes/prune", 200, `{"VolumesDeleted":[],"SpaceReclaimed":0}`},
		{"networks by name", "GET", "/networks?filters=" + url.QueryEscape(`{"name":{"nosuch":true}}`), 200, `[]`},
		{"networks bad filter", "GET", "/networks?filters=" + url.QueryEscape(`{"colour":{"red":true}}`), 400, `invalid filter 'colour'`},
		{"ps", "GET", "/containers/json?all=1", 200, `[]`},
		{"create unsupported", "POST", "/containers/create", 400, `malformed JSON`},
		{"swarm", "GET", "/v1.44/swarm", 503, `not a swarm manager`},
		{"plugins", "GET", "/plugins", 404, `no plugins`},
		{"save missing", "GET", "/images/get?names=nosuch", 404, `No such image: nosuch`},
		{"auth malformed", "POST", "/auth", 400, `malformed JSON`},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, ts, c.method, c.path)
			if a.status != c.status || !strings.Contains(a.body, c.body) {
				t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.path, a.status, a.body, c.status, c.body)
			}
			if a.header.Get("Api-Version") != "1.50" || a.header.Get("Ostype") != "linux" {
				t.Errorf("headers: Api-Version %q Ostype %q", a.header.Get("Api-Version"), a.header.Get("Ostype"))
			}
			if a.status >= 400 && a.header.Get("Content-Type") != "application/json" {
				t.Errorf("error content type %q", a.header.Get("Content-Type"))
			}
		})
	}
}

// /_ping carries what clients negotiate with; Builder-Version 1 sends the
// docker CLI's builds to POST /build.
func TestPingHeaders(t *testing.T) {
	ts := server(t)
	a := call(t, ts, "HEAD", "/_ping")
	for k, want := range map[string]string{"Api-Version": "1.50", "Builder-Version": "1", "Docker-Experimental": "false", "Ostype": "linux", "Swarm": "inactive"} {
		if got := a.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

// Tag, list, remove: one image, two names, then one again.
func TestTagListRemove(t *testing.T) {
	ts := server(t)
	if a := call(t, ts, "POST", "/v1.41/images/bb/tag?repo=localhost:5000/team/app&tag=v1"); a.status != 201 {
		t.Fatalf("tag: %d %s", a.status, a.body)
	}
	var list []image.Summary
	if err := json.Unmarshal([]byte(call(t, ts, "GET", "/images/json").body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || strings.Join(list[0].RepoTags, ",") != "bb:latest,localhost:5000/team/app:v1" {
		t.Fatalf("images after tag: %+v", list)
	}
	ref := url.QueryEscape(`{"reference":{"localhost:5000/team/*":true}}`)
	if a := call(t, ts, "GET", "/images/json?filters="+ref); !strings.Contains(a.body, "team/app:v1") {
		t.Errorf("reference filter: %s", a.body)
	}
	a := call(t, ts, "DELETE", "/images/localhost:5000/team/app:v1")
	if a.status != 200 || !strings.Contains(a.body, `"Untagged":"localhost:5000/team/app:v1"`) || strings.Contains(a.body, "Deleted") {
		t.Fatalf("rmi of one name: %d %s", a.status, a.body)
	}
}

// No request leaves a goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	ts := server(t)
	call(t, ts, "GET", "/images/json")
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		call(t, ts, "GET", "/images/bb/json")
		call(t, ts, "GET", "/images/nosuch/json")
		call(t, ts, "POST", "/images/create?fromImage=127.0.0.1:1/none&tag=x")
	}
	ts.Client().CloseIdleConnections()
	if !testutil.Poll(testutil.Patience, func() bool { return runtime.NumGoroutine() <= before+2 }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}
