package build_test

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/engine"
)

// loopbackServer serves body at /file.txt on 127.0.0.1 only.
func loopbackServer(t *testing.T, body string) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/file.txt" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestAddChecksum(t *testing.T) {
	e := newEngine(t)
	const body = "downloaded content\n"
	srv := loopbackServer(t, body)
	url := srv.URL + "/file.txt"
	good := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body)))
	bad := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("something else")))

	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" + good + " " + url + " /got.txt\n"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"ck:1"}})
	if got := imageFiles(t, e, "ck:1")["got.txt"]; got != "file 600 0:0 "+body && got != "file 644 0:0 "+body {
		t.Errorf("got.txt = %q", got)
	}

	tests := []struct {
		name, dockerfile string
		want             []string
	}{
		{"mismatch", "FROM busybox\nADD --checksum=" + bad + " " + url + " /got.txt\n",
			[]string{"Dockerfile:2: ADD " + url + ": checksum mismatch", bad, good}},
		{"local source", "FROM busybox\nADD --checksum=" + good + " Dockerfile /x\n",
			[]string{"Dockerfile:2: ADD --checksum applies only to http(s) sources; Dockerfile is not one"}},
		{"not a digest", "FROM busybox\nADD --checksum=abc " + url + " /x\n",
			[]string{"Dockerfile:2: ADD --checksum=abc: want ALGORITHM:HEX"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tt.dockerfile})
			_, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"ck:bad"}})
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want it to contain %q\n%s", err, w, out)
				}
			}
		})
	}
}

func TestCopyParents(t *testing.T) {
	e := newEngine(t)
	ctxFiles := map[string]string{
		"x/a/one.txt": "1", "y/b/two.txt": "2", "y/b/skip.md": "s", "z/deep/dir/f": "f",
		"p/q/r.txt": "r",
	}
	ctxFiles["Dockerfile"] = `FROM busybox
COPY --parents x/a/one.txt y/*/*.txt /dst/
COPY --parents z/deep /tree
COPY --parents ./p/./q/r.txt /piv/
COPY --parents=false x/a/one.txt /flat/
`
	dir := writeContext(t, ctxFiles)
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"par:1"}})
	files := imageFiles(t, e, "par:1")
	want := map[string]string{
		"dst/x/a/one.txt":   "file 644 0:0 1",
		"dst/y/b/two.txt":   "file 644 0:0 2",
		"tree/z/deep/dir/f": "file 644 0:0 f",
		"piv/q/r.txt":       "file 644 0:0 r",
		"flat/one.txt":      "file 644 0:0 1",
	}
	got := pick(files, "dst/x/a/one.txt", "dst/y/b/two.txt", "dst/y/b/skip.md", "tree/z/deep/dir/f", "piv/q/r.txt", "piv/p", "flat/one.txt")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for p := range files {
		if strings.HasPrefix(p, "piv/p") {
			t.Errorf("the /./ pivot kept %s", p)
		}
	}
}
