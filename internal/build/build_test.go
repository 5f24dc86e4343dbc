package build_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/testutil"
)

// newEngine opens an engine on a temp root with busybox:latest imported
// and the build cache wired as gc roots.
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, _ := newEngineBase(t)
	return e
}

// newEngineBase is newEngine that also returns the base's rootfs dir.
func newEngineBase(t *testing.T) (*engine.Engine, string) {
	t.Helper()
	testutil.RequiresRoot(t)
	ctx := context.Background()
	// STRATA_TEST_DRIVER=native runs the suite on the native snapshotter.
	e, err := engine.Open(ctx, engine.Options{Root: t.TempDir(), StorageDriver: os.Getenv("STRATA_TEST_DRIVER")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\napp:x:1000:\nstaff:x:50:\nnogroup:x:65534:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "opt", "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"opt/old/a", "opt/old/b", "opt/keep"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Import(ctx, engine.ImportOptions{Source: dir, Ref: "busybox:latest"}); err != nil {
		t.Fatal(err)
	}
	return e, dir
}

// writeContext makes a context directory from name → content ("dir/" for
// an empty directory, "->target" for a symlink).
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			err := os.MkdirAll(p, 0o755)
			if err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(body, "->"):
			if err := os.Symlink(body[2:], p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func doBuild(t *testing.T, e *engine.Engine, opts engine.BuildOptions) (engine.BuildResult, string, error) {
	t.Helper()
	var out testutil.SyncBuffer
	opts.Progress, opts.Verbose = &out, true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.Build(ctx, opts)
	return res, out.String(), err
}

func mustBuild(t *testing.T, e *engine.Engine, opts engine.BuildOptions) (engine.BuildResult, string) {
	t.Helper()
	res, out, err := doBuild(t, e, opts)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return res, out
}

func imageConfig(t *testing.T, e *engine.Engine, ref string) build.Image {
	t.Helper()
	ctx := context.Background()
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Content.ReadAll(ctx, img.ConfigDesc, manifest.MaxSize)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := build.DecodeImage(b)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// imageFiles describes the image's filesystem: path → "dir 755 0:0",
// "file 644 0:0 content" (content cut at 40 bytes), "link target".
func imageFiles(t *testing.T, e *engine.Engine, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	key := layer.ExtractKey()
	mounts, err := e.Snap.View(ctx, key, img.ChainID().String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Snap.Remove(ctx, key)
	out := map[string]string{}
	err = layer.WithMounted(ctx, mounts, func(root string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if strings.HasPrefix(rel, "bin/") && rel != "bin/busybox" {
				return nil
			}
			out[rel] = describe(p)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(p string) string {
	fi, err := os.Lstat(p)
	if err != nil {
		return "error " + err.Error()
	}
	st := fi.Sys().(interface{}) // *syscall.Stat_t
	uid, gid := ownerOf(st)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return "link " + target
	case fi.IsDir():
		return fmt.Sprintf("dir %o %d:%d", fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), uid, gid)
	default:
		b, _ := os.ReadFile(p)
		s := string(b)
		if len(s) > 40 {
			sum := sha256.Sum256(b)
			s = fmt.Sprintf("sha256:%x", sum[:6])
		}
		return fmt.Sprintf("file %o %d:%d %s", fi.Mode().Perm(), uid, gid, s)
	}
}

func pick(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// layerEntries lists the names in the image's top layer.
func layerEntries(t *testing.T, e *engine.Engine, ref string, idx int) []string {
	t.Helper()
	ctx := context.Background()
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if idx < 0 {
		idx += len(img.Manifest.Layers)
	}
	rc, err := e.OpenLayer(ctx, img.Manifest.Layers[idx])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, _, err := archive.Decompress(rc)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	return names
}

func TestInstructionsConfig(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `ARG GREETING=hi
FROM busybox AS base
ARG GREETING
ARG VERSION=1.0
ENV APP_HOME=/app LANG=C.UTF-8
ENV DERIVED=${APP_HOME}/bin:$VERSION
LABEL org.example.version=$VERSION "with space"="a b"
MAINTAINER someone@example.com
WORKDIR $APP_HOME
WORKDIR sub
USER app:app
EXPOSE 8080 53/udp
VOLUME ["/data", "/cache"]
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD wget -q localhost:8080
ONBUILD RUN echo child
ENTRYPOINT ["/bin/app"]
CMD ["--serve", "$GREETING"]
`})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"cfg:1"}, Labels: map[string]string{"extra": "yes"}})
	cfg := imageConfig(t, e, "cfg:1").Config
	want := build.Config{
		ImageConfig: ocispec.ImageConfig{
			User:         "app:app",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
			Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/app", "LANG=C.UTF-8", "DERIVED=/app/bin:1.0"},
			Entrypoint:   []string{"/bin/app"},
			Cmd:          []string{"--serve", "$GREETING"},
			Volumes:      map[string]struct{}{"/data": {}, "/cache": {}},
			WorkingDir:   "/app/sub",
			Labels:       map[string]string{"org.example.version": "1.0", "with space": "a b", "extra": "yes"},
			StopSignal:   "SIGTERM",
		},
		Healthcheck: &build.Healthcheck{Test: []string{"CMD-SHELL", "wget -q localhost:8080"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 3},
		OnBuild:     []string{"RUN echo child"},
		Shell:       []string{"/bin/sh", "-ec"},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	img := imageConfig(t, e, "cfg:1")
	if img.Author != "someone@example.com" {
		t.Errorf("author %q", img.Author)
	}
	var rows []string
	for _, h := range img.History[1:] {
		rows = append(rows, fmt.Sprintf("%v %s", h.EmptyLayer, h.CreatedBy))
		if h.Created == nil || h.Comment != build.CacheComment {
			t.Errorf("history row %q: created %v comment %q", h.CreatedBy, h.Created, h.Comment)
		}
	}
	// BuildKit's texts (docker 20.10's built-in frontend: no "# syntax="
	// line): an inherited ARG without its value, lists unquoted, the
	// healthcheck as its config struct, and no row for ONBUILD.
	wantRows := []string{
		"true ARG GREETING", "true ARG VERSION=1.0", "true ENV APP_HOME=/app LANG=C.UTF-8", "true ENV DERIVED=/app/bin:1.0",
		`true LABEL org.example.version=1.0 with space=a b`, "true MAINTAINER someone@example.com",
		"false WORKDIR /app", "false WORKDIR /app/sub", "true USER app:app", "true EXPOSE map[53/udp:{} 8080/tcp:{}]",
		"true VOLUME [/data /cache]", "true STOPSIGNAL SIGTERM", "true SHELL [/bin/sh -ec]",
		`true HEALTHCHECK &{["CMD-SHELL" "wget -q localhost:8080"] "5s" "2s" "0s" '\x03'}`,
		`true ENTRYPOINT ["/bin/app"]`, `true CMD ["--serve" "$GREETING"]`,
	}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if n, m := len(img.RootFS.DiffIDs), 1+2; n != m {
		t.Errorf("%d layers, want %d (base + two WORKDIRs)", n, m)
	}

	// The child runs the trigger.
	child := writeContext(t, map[string]string{"Dockerfile": "FROM cfg:1\nUSER root\nRUN echo from-child > /child\n"})
	_, out := mustBuild(t, e, engine.BuildOptions{Context: child, Tags: []string{"child:1"}})
	if !strings.Contains(out, "RUN echo child") || !strings.Contains(out, "child\n") {
		t.Errorf("ONBUILD trigger did not run:\n%s", out)
	}
	if c := imageConfig(t, e, "child:1").Config; c.OnBuild != nil {
		t.Errorf("child keeps OnBuild %v, want none", c.OnBuild)
	}
}

func TestCopySemantics(t *testing.T) {
	e := newEngine(t)
	files := map[string]string{
		"a.txt":         "A",
		"b.txt":         "B",
		"c.md":          "C",
		"dir/x":         "X",
		"dir/sub/y":     "Y",
		"dir/link":      "->x",
		"archive/f":     "F",
		"outside":       "->../../../etc",
		".dockerignore": "secret*\n",
		"secret.key":    "S",
	}
	ctxDir := writeContext(t, files)
	tests := []struct {
		name  string
		lines string
		want  map[string]string
	}{
		{"file to dir", "COPY a.txt /dst/", map[string]string{"dst": "dir 755 0:0", "dst/a.txt": "file 644 0:0 A"}},
		{"file to file", "COPY a.txt /dst", map[string]string{"dst": "file 644 0:0 A"}},
		{"glob", "COPY *.txt /g/", map[string]string{"g/a.txt": "file 644 0:0 A", "g/b.txt": "file 644 0:0 B"}},
		{"dir contents", "COPY dir /d", map[string]string{"d/x": "file 644 0:0 X", "d/sub/y": "file 644 0:0 Y", "d/link": "link x"}},
		{"relative to workdir", "WORKDIR /w\nCOPY a.txt .", map[string]string{"w/a.txt": "file 644 0:0 A"}},
		{"chown names", "COPY --chown=app:staff dir /o", map[string]string{"o": "dir 755 1000:50", "o/x": "file 644 1000:50 X"}},
		{"chown uid only", "COPY --chown=1234 a.txt /u/", map[string]string{"u/a.txt": "file 644 1234:1234 A"}},
		{"chmod", "COPY --chmod=600 a.txt b.txt /m/", map[string]string{"m/a.txt": "file 600 0:0 A", "m/b.txt": "file 600 0:0 B"}},
		{"exclude", "COPY --exclude=*.md --exclude=b.txt . /e/", map[string]string{"e/a.txt": "file 644 0:0 A", "e/c.md": "", "e/b.txt": ""}},
		{"link flag", "COPY --link a.txt /l/", map[string]string{"l/a.txt": "file 644 0:0 A"}},
		{"heredoc", "COPY <<EOF /h/greeting\nhello\nEOF", map[string]string{"h/greeting": "file 644 0:0 hello\n"}},
		{"dockerignore", "COPY . /all/", map[string]string{"all/a.txt": "file 644 0:0 A", "all/secret.key": ""}},
		{"symlink out of context stays a link", "COPY . /x/", map[string]string{"x/outside": "link ../../../etc", "x/passwd": ""}},
		{"into symlinked dir in image", "COPY a.txt /opt/old/../keepdir/", map[string]string{"opt/keepdir/a.txt": "file 644 0:0 A"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			df := "FROM busybox\n" + tt.lines + "\n"
			if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
				t.Fatal(err)
			}
			ref := fmt.Sprintf("copy:%d", i)
			mustBuild(t, e, engine.BuildOptions{Context: ctxDir, Tags: []string{ref}})
			got := imageFiles(t, e, ref)
			for k, v := range tt.want {
				if v == "" {
					if g, ok := got[k]; ok {
						t.Errorf("%s exists (%s), want it absent", k, g)
					}
					delete(tt.want, k)
				}
			}
			var keys []string
			for k := range tt.want {
				keys = append(keys, k)
			}
			if diff := cmp.Diff(tt.want, pick(got, keys...)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("missing source names file and context", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY nope.txt /\n"})
		_, _, err := doBuild(t, e, engine.BuildOptions{Context: dir})
		if err == nil || !strings.Contains(err.Error(), `Dockerfile:2: COPY nope.txt: "nope.txt" not found in the build context`) {
			t.Errorf("got %v, want the missing file and the context", err)
		}
	})
	t.Run("add unpacks a local tar", func(t *testing.T) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "inner/t.txt", Mode: 0o640, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("T"))
		tw.Close()
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD files.tar /unpacked/\nADD plain.txt /p/\n", "files.tar": buf.String(), "plain.txt": "P"})
		mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"add:1"}})
		got := pick(imageFiles(t, e, "add:1"), "unpacked/inner/t.txt", "p/plain.txt", "unpacked/files.tar")
		want := map[string]string{"unpacked/inner/t.txt": "file 640 0:0 T", "p/plain.txt": "file 644 0:0 P"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("add unreachable url", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD http://127.0.0.1:1/file.txt /x\n"})
		_, _, err := doBuild(t, e, engine.BuildOptions{Context: dir})
		if err == nil || !strings.Contains(err.Error(), "Dockerfile:2: ADD http://127.0.0.1:1/file.txt: cannot be reached") {
			t.Errorf("got %v, want a clear unreachable error", err)
		}
	})
}

func TestCacheHitsUntilFirstChange(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nENV A=1\nWORKDIR /app\nRUN echo one > /one\nCOPY src/ /app/src/\nRUN cat /app/src/f1 > /app/copy\nCMD [\"sh\"]\n",
		"src/f1":     "first",
		"src/f2":     "second",
	})
	first, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"c:1"}})
	if n := strings.Count(out, "CACHED"); n != 0 {
		t.Fatalf("cold build has %d CACHED steps:\n%s", n, out)
	}
	warm, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"c:1"}})
	if n := strings.Count(out, "CACHED"); n != 4 {
		t.Errorf("warm build: %d CACHED, want 4:\n%s", n, out)
	}
	if warm.ID != first.ID {
		t.Errorf("warm rebuild gives image %s, want the same %s", warm.ID, first.ID)
	}

	// Touch: mtime only; the content hash still hits.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "src/f2"), later, later); err != nil {
		t.Fatal(err)
	}
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"c:1"}})
	if n := strings.Count(out, "CACHED"); n != 4 {
		t.Errorf("after touch: %d CACHED, want 4:\n%s", n, out)
	}

	// Edit: only the COPY and what follows run.
	if err := os.WriteFile(filepath.Join(dir, "src/f1"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"c:2"}})
	if n := strings.Count(out, "CACHED"); n != 2 {
		t.Errorf("after edit: %d CACHED, want 2 (WORKDIR, first RUN):\n%s", n, out)
	}
	if !strings.Contains(out, "cache miss: file src/f1 changed") {
		t.Errorf("miss reason does not name src/f1:\n%s", out)
	}
	if got := imageFiles(t, e, "c:2")["app/copy"]; got != "file 644 0:0 edited" {
		t.Errorf("app/copy = %q, want the edited content", got)
	}

	// A build arg the RUN sees changes its key.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nARG V=1\nRUN echo $V > /v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"c:3"}})
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"c:3"}, BuildArgs: map[string]string{"V": "2"}})
	if !strings.Contains(out, `cache miss: build arg V changed ("2", was "1")`) {
		t.Errorf("miss reason does not name the arg:\n%s", out)
	}
	if got := imageFiles(t, e, "c:3")["v"]; got != "file 644 0:0 2\n" {
		t.Errorf("/v = %q, want 2", got)
	}

	// --no-cache runs everything; the prune drops records and gc reclaims.
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, NoCache: true})
	if strings.Contains(out, "CACHED") {
		t.Errorf("--no-cache used the cache:\n%s", out)
	}
	rep, err := e.PruneBuildCache(context.Background(), engine.BuilderPruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records == 0 {
		t.Errorf("prune --all dropped no records")
	}
}

func TestRunWhiteoutsAndOpaqueDirs(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN rm /opt/keep && rm -rf /opt/old && mkdir /opt/old && echo new > /opt/old/c\n"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"wh:1"}})
	got := pick(imageFiles(t, e, "wh:1"), "opt/keep", "opt/old/a", "opt/old/b", "opt/old/c")
	if diff := cmp.Diff(map[string]string{"opt/old/c": "file 644 0:0 new\n"}, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	names := strings.Join(layerEntries(t, e, "wh:1", -1), " ")
	for _, want := range []string{"opt/.wh.keep", "opt/old/c"} {
		if !strings.Contains(names, want) {
			t.Errorf("layer %q lacks %s", names, want)
		}
	}
	if e.Driver() == "overlay" && !strings.Contains(names, "opt/old/.wh..wh..opq") {
		t.Errorf("layer %q lacks the opaque marker of the recreated dir", names)
	}
}

func TestMultiStageTarget(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS a
RUN sleep 0.3 && echo a > /a
FROM busybox AS b
RUN sleep 0.3 && echo b > /b
FROM busybox AS unused
RUN echo never > /never
FROM scratch
COPY --from=a /a /out/a
COPY --from=1 /b /out/b
COPY --from=busybox /etc/group /out/group
`})
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"ms:1"}})
	if strings.Contains(out, "echo never") {
		t.Errorf("the unused stage was built:\n%s", out)
	}
	got := pick(imageFiles(t, e, "ms:1"), "out/a", "out/b", "bin/busybox")
	if diff := cmp.Diff(map[string]string{"out/a": "file 644 0:0 a\n", "out/b": "file 644 0:0 b\n"}, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// Stages a and b overlap: b's RUN starts before a's is done.
	ia, ib := strings.Index(out, "RUN sleep 0.3 && echo a"), strings.Index(out, "RUN sleep 0.3 && echo b")
	da := strings.Index(out[ia:], "DONE")
	if ia < 0 || ib < 0 || !(ib < ia+da || ia < ib && strings.Index(out[ib:], "DONE") > 0 && ia > ib) {
		t.Logf("progress:\n%s", out)
	}

	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"ms:a"}, Target: "a", NoCache: true})
	if strings.Contains(out, "echo b") || !strings.Contains(out, "echo a") {
		t.Errorf("--target a built other stages:\n%s", out)
	}
	if _, ok := imageFiles(t, e, "ms:a")["a"]; !ok {
		t.Errorf("target a lacks /a")
	}
	_, _, err := doBuild(t, e, engine.BuildOptions{Context: dir, Target: "nope"})
	if err == nil || !strings.Contains(err.Error(), `target stage "nope" not found`) {
		t.Errorf("got %v, want target not found", err)
	}
}

func TestReproducibleWithSourceDateEpoch(t *testing.T) {
	// The base is built from the context too: an imported base would carry
	// its import time.
	files := map[string]string{
		"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nCOPY src/ /src/\nRUN echo made > /made && touch /made\nCMD [\"cat\", \"/made\"]\n",
		"src/a":      "a", "src/d/b": "b",
	}
	epoch := time.Unix(1700000000, 0).UTC()
	var ids []string
	for i := 0; i < 2; i++ {
		e := newEngine(t)
		dir := writeContext(t, files)
		testutil.BusyboxRootfs(t, filepath.Join(dir, "rootfs"))
		res, _ := mustBuild(t, e, engine.BuildOptions{Context: dir, SourceDateEpoch: &epoch, Tags: []string{"r:1"}})
		img := imageConfig(t, e, "r:1")
		if !img.Created.Equal(epoch) {
			t.Errorf("created %v, want %v", img.Created, epoch)
		}
		ids = append(ids, res.Manifest.Digest.String())
	}
	if ids[0] != ids[1] {
		t.Errorf("two builds on empty stores differ: %s vs %s", ids[0], ids[1])
	}
}

func TestFailingRunTagsNothing(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo ok > /ok\nRUN echo line1 && echo line2 >&2 && exit 3\n"})
	_, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"fail:1"}})
	var re *build.RunError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *build.RunError\n%s", err, out)
	}
	if re.Code != 3 || re.Line != 3 || !strings.Contains(err.Error(), "line1") || !strings.Contains(err.Error(), "line2") {
		t.Errorf("error %q: want line 3, exit code 3 and the last output", err)
	}
	if !strings.HasPrefix(err.Error(), "Dockerfile:3: RUN echo line1") {
		t.Errorf("error %q does not start with the location and command", err)
	}
	if _, err := e.Images.Resolve(context.Background(), "fail:1"); err == nil {
		t.Errorf("fail:1 was tagged after a failed build")
	}
	// The finished step stays cached.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo ok > /ok\nRUN true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"fail:1"}})
	if strings.Count(out, "CACHED") != 1 {
		t.Errorf("the step before the failure was not cached:\n%s", out)
	}
	// No stray snapshot: only committed ones remain.
	var active []string
	e.Snap.Walk(context.Background(), func(ctx context.Context, info snapshotInfo) error {
		if info.Kind.String() != "committed" {
			active = append(active, info.Name)
		}
		return nil
	})
	if len(active) > 0 {
		t.Errorf("snapshots left behind: %v", active)
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 30\n"})
	ctx, cancel := context.WithCancel(context.Background())
	var out testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := e.Build(ctx, engine.BuildOptions{Context: dir, Tags: []string{"cancel:1"}, Progress: &out})
		done <- err
	}()
	if !testutil.Poll(testutil.Patience, func() bool { return strings.Contains(out.String(), " started\n") }) {
		cancel()
		<-done
		t.Fatalf("the RUN never printed \"started\":\n%s", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		b, _ := exec.Command("ps", "axf").Output()
		t.Fatalf("build did not stop after cancel:\n%s\n%s", out.String(), b)
	}
	var active []string
	e.Snap.Walk(context.Background(), func(ctx context.Context, info snapshotInfo) error {
		if info.Kind.String() != "committed" {
			active = append(active, info.Name)
		}
		return nil
	})
	if len(active) > 0 {
		t.Errorf("snapshots left behind: %v", active)
	}
}

func TestSquash(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo 1 > /one\nRUN echo 2 > /two && rm /one\nENV X=1\n"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sq:1"}, Squash: true})
	img := imageConfig(t, e, "sq:1")
	if n := len(img.RootFS.DiffIDs); n != 2 {
		t.Errorf("%d layers, want base + 1 squashed", n)
	}
	nonEmpty := 0
	for _, h := range img.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty != len(img.RootFS.DiffIDs) {
		t.Errorf("%d non-empty history rows for %d layers", nonEmpty, len(img.RootFS.DiffIDs))
	}
	got := pick(imageFiles(t, e, "sq:1"), "one", "two")
	if diff := cmp.Diff(map[string]string{"two": "file 644 0:0 2\n"}, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// The per-step cache still hits.
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sq:2"}})
	if strings.Count(out, "CACHED") != 2 {
		t.Errorf("cache not used after --squash:\n%s", out)
	}
}

func TestDockerfileOnStdin(t *testing.T) {
	e := newEngine(t)
	res, _ := mustBuild(t, e, engine.BuildOptions{Context: "-", Stdin: strings.NewReader("FROM busybox\nRUN echo x > /x\n"), Tags: []string{"stdin:1"}})
	if res.ID == "" {
		t.Fatal("no image ID")
	}
	_, _, err := doBuild(t, e, engine.BuildOptions{Context: "-", Stdin: strings.NewReader("FROM busybox\nCOPY a /a\n")})
	if err == nil || !strings.Contains(err.Error(), "there is no build context") {
		t.Errorf("got %v, want no build context", err)
	}
	// A tar on stdin is the context.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := "FROM busybox\nCOPY a /a\n"
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	tw.Write([]byte(df))
	tw.WriteHeader(&tar.Header{Name: "a", Mode: 0o644, Size: 1})
	tw.Write([]byte("A"))
	tw.Close()
	mustBuild(t, e, engine.BuildOptions{Context: "-", Stdin: &buf, Tags: []string{"stdin:2"}})
	if got := imageFiles(t, e, "stdin:2")["a"]; got != "file 644 0:0 A" {
		t.Errorf("/a = %q", got)
	}
}

func TestBuilderPruneKeepStorage(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 100000 /dev/urandom > /r1\nRUN head -c 100000 /dev/urandom > /r2\n"})
	mustBuild(t, e, engine.BuildOptions{Context: dir})
	roots, err := e.BuildCacheRoots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots.Snapshots) != 2 || len(roots.Blobs) != 2 {
		t.Fatalf("cache roots %d snapshots, %d blobs; want 2 each", len(roots.Snapshots), len(roots.Blobs))
	}
	// The image is untagged; dropping its name leaves only the cache to keep
	// the layers.
	list, err := e.Images.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range list {
		for _, n := range img.Names {
			if strings.HasPrefix(n, "untagged/") {
				if _, err := e.RemoveImage(ctx, img.ID().String(), true); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := e.GC(ctx, engine.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir})
	if strings.Count(out, "CACHED") != 2 {
		t.Fatalf("gc dropped cached layers:\n%s", out)
	}
	// Keep about one layer: the least recently used goes.
	rep, err := e.PruneBuildCache(ctx, engine.BuilderPruneOptions{All: true, KeepStorage: 120000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 1 {
		t.Errorf("pruned %d records, want 1", rep.Records)
	}
}

func TestBadInput(t *testing.T) {
	e := newEngine(t)
	tests := []struct{ name, dockerfile, want string }{
		{"other platform", "FROM --platform=linux/s390x busybox\n", "Dockerfile:1: FROM --platform=linux/s390x: this machine builds only for linux/"},
		// A missing base is pulled (as docker build): from a port nothing
		// listens on, so the pull fails at once, on loopback.
		{"missing image", "FROM 127.0.0.1:1/nosuch:1\n", "Dockerfile:1: FROM 127.0.0.1:1/nosuch:1: pull 127.0.0.1:1/nosuch:1: "},
		{"copy from later stage", "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n", "Dockerfile:2: COPY --from=b refers to this or a later stage"},
		{"unknown instruction", "FROM busybox\nCOPPY a b\n", `Dockerfile:2: unknown instruction "COPPY" (did you mean COPY?)`},
		{"run mount ssh not given", "FROM busybox\nRUN --mount=type=ssh,required true\n", "Dockerfile:2: RUN --mount=type=ssh,id=default: the ssh agent is required but was not given: pass --ssh default"},
		{"bad chmod", "FROM busybox\nCOPY --chmod=999 Dockerfile /\n", "Dockerfile:2: --chmod=999: want an octal mode"},
		{"unknown chown user", "FROM busybox\nCOPY --chown=nosuchuser Dockerfile /\n", "Dockerfile:2: --chown=nosuchuser:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeContext(t, map[string]string{"Dockerfile": tt.dockerfile})
			_, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"bad:1"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q\n%s", err, tt.want, out)
			}
		})
	}
}
func TestHeredocRunAndArgInFrom(t *testing.T) {
	e := newEngine(t)
	df := "ARG IMG=busybox\nFROM ${IMG}:latest\nRUN <<EOF\necho one > /h\necho two >> /h\nEOF\nRUN cat > /stdin <<EOF\nfrom stdin\nEOF\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"hd:1"}})
	got := pick(imageFiles(t, e, "hd:1"), "h", "stdin")
	want := map[string]string{"h": "file 644 0:0 one\ntwo\n", "stdin": "file 644 0:0 from stdin\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
