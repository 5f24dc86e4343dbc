package build_test

import (
	"archive/tar"
	"bytes"
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

// TestAddParents: ADD --parents writes the same tree as COPY --parents
// for context sources (globs, a directory, the /./ pivot), unpacks a local
// tar under its parent directories, and refuses a URL source.
func TestAddParents(t *testing.T) {
	e := newEngine(t)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "bin/tool", Mode: 0o755, Size: 4, Typeflag: tar.TypeReg})
	tw.Write([]byte("tool"))
	tw.Close()
	const lines = ` --parents x/a/one.txt y/*/*.txt DEST/dst/
%[1]s --parents z/deep DEST/tree
%[1]s --parents ./p/./q/r.txt DEST/piv/
`
	df := "FROM busybox\n" +
		strings.ReplaceAll(fmt.Sprintf("COPY"+lines, "COPY"), "DEST", "/c") +
		strings.ReplaceAll(fmt.Sprintf("ADD"+lines, "ADD"), "DEST", "/a") +
		"ADD --parents pkg/v1/app.tar /t/\n"
	dir := writeContext(t, map[string]string{
		"Dockerfile":  df,
		"x/a/one.txt": "1", "y/b/two.txt": "2", "y/b/skip.md": "s", "z/deep/dir/f": "f", "p/q/r.txt": "r",
		"pkg/v1/app.tar": tb.String(),
	})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"addpar:1"}})
	files := imageFiles(t, e, "addpar:1")
	under := func(prefix string) map[string]string {
		out := map[string]string{}
		for p, d := range files {
			if rest, ok := strings.CutPrefix(p, prefix); ok {
				out[rest] = d
			}
		}
		return out
	}
	copied, added := under("c/"), under("a/")
	if len(copied) < 8 {
		t.Fatalf("COPY --parents wrote only %v", copied)
	}
	if diff := cmp.Diff(copied, added); diff != "" {
		t.Errorf("ADD --parents tree differs from COPY --parents (-copy +add):\n%s", diff)
	}
	want := map[string]string{"t/pkg/v1/bin/tool": "file 755 0:0 tool"}
	if diff := cmp.Diff(want, pick(files, "t/pkg/v1/bin/tool", "t/pkg/v1/app.tar", "t/bin/tool")); diff != "" {
		t.Errorf("ADD --parents of a tar (-want +got):\n%s", diff)
	}

	srv := loopbackServer(t, "body\n")
	url := srv.URL + "/file.txt"
	tests := []struct{ name, dockerfile, want string }{
		{"url source", "FROM busybox\n\nADD --parents x/a/one.txt " + url + " /d/\n",
			"Dockerfile:3: ADD --parents keeps the directories of sources in the build context; " + url + " is a URL"},
		{"not a boolean", "FROM busybox\nADD --parents=maybe x/a/one.txt /d/\n", "Dockerfile:2: --parents=maybe: want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tt.dockerfile, "x/a/one.txt": "1"})
			_, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"addpar:bad"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q\n%s", err, tt.want, out)
			}
		})
	}
	// --parents=false is a plain ADD, URL or not.
	dir = writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD --parents=false x/a/one.txt " + url + " /d/\n", "x/a/one.txt": "1"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"addpar:2"}})
	if got := pick(imageFiles(t, e, "addpar:2"), "d/one.txt", "d/file.txt"); len(got) != 2 {
		t.Errorf("ADD --parents=false wrote %v, want d/one.txt and d/file.txt", got)
	}
}
