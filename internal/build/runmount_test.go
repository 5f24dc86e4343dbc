package build_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/engine"
)

// layerBytes is every layer of ref, uncompressed, end to end.
func layerBytes(t *testing.T, e *engine.Engine, ref string) []byte {
	t.Helper()
	ctx := context.Background()
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, l := range img.Manifest.Layers {
		rc, err := e.OpenLayer(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		zr, _, err := archive.Decompress(rc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(&out, zr); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	return out.Bytes()
}

// lastRow says whether the image's last step left nothing: a layer with
// no entries (BuildKit's RUN always makes one), and its history text.
func lastRow(t *testing.T, e *engine.Engine, ref string) (bool, string) {
	t.Helper()
	h := imageConfig(t, e, ref).History
	last := h[len(h)-1]
	if last.EmptyLayer {
		t.Fatalf("%s: the last step (%s) made no layer; BuildKit's makes one, empty if nothing changed", ref, last.CreatedBy)
	}
	return len(layerEntries(t, e, ref, -1)) == 0, last.CreatedBy
}

func TestRunMountCache(t *testing.T) {
	e := newEngine(t)
	df := "FROM busybox\nARG N\nRUN --mount=type=cache,target=/var/cache/app,id=app echo $N >> /var/cache/app/log && wc -l < /var/cache/app/log > /count\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	for i, n := range []string{"1", "2"} {
		mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"cm:" + n}, BuildArgs: map[string]string{"N": n}})
		files := imageFiles(t, e, "cm:"+n)
		if got, want := files["count"], "file 644 0:0 "+string(rune('1'+i))+"\n"; got != want {
			t.Errorf("build %d: /count is %q, want %q: the cache did not persist", i+1, got, want)
		}
		for p := range files {
			if strings.HasPrefix(p, "var/cache") {
				t.Errorf("build %d: the image has %s; the cache mount must stay out of it", i+1, p)
			}
		}
		if got := layerEntries(t, e, "cm:"+n, -1); !cmp.Equal(got, []string{"count"}) {
			t.Errorf("build %d: RUN layer has %v, want only count (no mount point dirs)", i+1, got)
		}
	}
	cacheDir := filepath.Join(e.Root(), "build-cache-mounts", "app")
	b, err := os.ReadFile(filepath.Join(cacheDir, "log"))
	if err != nil || string(b) != "1\n2\n" {
		t.Fatalf("cache dir log = %q, %v; want the two runs' lines", b, err)
	}
	rep, err := e.PruneBuildCache(context.Background(), engine.BuilderPruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cacheDir); !os.IsNotExist(err) {
		t.Errorf("builder prune --all left %s (%v)", cacheDir, err)
	}
	if rep.Records < 3 {
		t.Errorf("prune reported %d objects, want the 2 records and the cache mount", rep.Records)
	}
}

func TestRunMountBind(t *testing.T) {
	e := newEngine(t)
	df := `FROM busybox AS gen
RUN mkdir -p /data && echo from-stage > /data/x
FROM busybox
RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /out
RUN --mount=target=/ctx,rw touch /ctx/written && ls /ctx > /list
RUN --mount=target=/ro touch /ro/x 2>/dev/null || echo refused > /ro.txt
RUN --mount=from=gen,source=/data,target=/opt/old/d cat /opt/old/d/x > /y
`
	dir := writeContext(t, map[string]string{"Dockerfile": df, "src/a.txt": "hello from ctx\n", "other.txt": "o"})
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"bm:1"}})
	files := imageFiles(t, e, "bm:1")
	want := map[string]string{
		"out":    "file 644 0:0 hello from ctx\n",
		"list":   "file 644 0:0 Dockerfile\nother.txt\nsrc\nwritten\n",
		"y":      "file 644 0:0 from-stage\n",
		"ro.txt": "file 644 0:0 refused\n",
	}
	if diff := cmp.Diff(want, pick(files, "out", "list", "y", "ro.txt")); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for _, p := range []string{"src", "ctx", "opt/old/d"} {
		if _, ok := files[p]; ok {
			t.Errorf("the image has %s, a mount point", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "written")); !os.IsNotExist(err) {
		t.Errorf("an rw bind mount wrote into the context (%v)", err)
	}
	// The mount from a stage into an existing dir leaves no copied-up dirs.
	if got := layerEntries(t, e, "bm:1", -1); !cmp.Equal(got, []string{"y"}) {
		t.Errorf("last RUN layer has %v, want only y", got)
	}
	if strings.Count(out, "CACHED") != 0 {
		t.Fatalf("first build hit the cache:\n%s", out)
	}
	// Unchanged: all cached; a changed bind source reruns its RUN.
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"bm:2"}})
	if n := strings.Count(out, "CACHED"); n != 5 {
		t.Errorf("rebuild: %d CACHED, want 5:\n%s", n, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "a.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"bm:3"}})
	if !strings.Contains(out, "file src/a.txt changed") {
		t.Errorf("a changed bind source did not say why the RUN reran:\n%s", out)
	}
	if got := imageFiles(t, e, "bm:3")["out"]; got != "file 644 0:0 changed\n" {
		t.Errorf("after the change /out = %q", got)
	}
}

func TestRunMountSecret(t *testing.T) {
	e := newEngine(t)
	const secret = "s3cret-V4lue-42"
	sf := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(sf, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STRATA_TEST_SECRET", secret+"-env")
	df := `FROM busybox
RUN --mount=type=secret,id=tok,required md5sum < /run/secrets/tok > /sum && stat -c %a /run/secrets/tok > /mode
RUN --mount=type=secret,id=envtok,target=/etc/tok,mode=0440,uid=1000 md5sum < /etc/tok > /sum2 && stat -c %a:%u /etc/tok > /mode2
RUN --mount=type=secret,id=absent ls /run/secrets 2>&1 > /absent || true
`
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sec:1"},
		Secrets: []string{"id=tok,src=" + sf, "id=envtok,env=STRATA_TEST_SECRET"}})
	files := imageFiles(t, e, "sec:1")
	want := map[string]string{
		"mode": "file 644 0:0 400\n", "mode2": "file 644 0:0 440:1000\n",
		"sum":  fmt.Sprintf("file 644 0:0 %x  -\n", md5.Sum([]byte(secret))),
		"sum2": fmt.Sprintf("file 644 0:0 %x  -\n", md5.Sum([]byte(secret+"-env"))),
	}
	if diff := cmp.Diff(want, pick(files, "mode", "mode2", "sum", "sum2")); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for p := range files {
		if strings.HasPrefix(p, "run") || p == "etc/tok" {
			t.Errorf("the image has %s, a secret mount point", p)
		}
	}
	// The secret's file stub in the existing /etc leaves no /etc behind.
	got := layerEntries(t, e, "sec:1", -2)
	sort.Strings(got)
	if !cmp.Equal(got, []string{"mode2", "sum2"}) {
		t.Errorf("second RUN layer has %v, want mode2 and sum2", got)
	}
	if bytes.Contains(layerBytes(t, e, "sec:1"), []byte("s3cret")) {
		t.Error("a layer holds the secret")
	}
	for _, h := range imageConfig(t, e, "sec:1").History {
		if strings.Contains(h.CreatedBy, "s3cret-V4lue-42-env") || strings.Contains(h.CreatedBy, sf) {
			t.Errorf("history row holds the secret or its file: %s", h.CreatedBy)
		}
	}
	// Another value of the same secret hits the cache: the key has no value.
	if err := os.WriteFile(sf, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sec:2"},
		Secrets: []string{"id=tok,src=" + sf, "id=envtok,env=STRATA_TEST_SECRET"}})
	if n := strings.Count(out, "CACHED"); n != 3 {
		t.Errorf("rebuild with another secret value: %d CACHED, want 3:\n%s", n, out)
	}
}

func TestRunMountTmpfs(t *testing.T) {
	e := newEngine(t)
	df := "FROM busybox\nRUN --mount=type=tmpfs,target=/opt/old/scratch,size=1m echo x > /opt/old/scratch/f && test -f /opt/old/scratch/f && df /opt/old/scratch | grep -q tmpfs\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"tf:1"}})
	if _, ok := imageFiles(t, e, "tf:1")["opt/old/scratch"]; ok {
		t.Error("the tmpfs mount point is in the image")
	}
	// Only the tmpfs was written: the RUN made no layer, not even the
	// copied-up /opt and /opt/old of the mount point.
	if empty, by := lastRow(t, e, "tf:1"); !empty {
		t.Errorf("RUN writing only to a tmpfs made a layer: %s %v", by, layerEntries(t, e, "tf:1", -1))
	}
}

func TestRunMountBadInput(t *testing.T) {
	e := newEngine(t)
	tests := []struct{ name, dockerfile, want string }{
		{"unknown type", "FROM busybox\nRUN --mount=type=nfs,target=/x true\n", "Dockerfile:2: RUN --mount type=nfs: unknown mount type"},
		{"missing target", "FROM busybox\n\nRUN --mount=type=cache true\n", "Dockerfile:3: RUN --mount=type=cache: a cache mount needs a target"},
		{"unknown stage", "FROM busybox\nRUN --mount=from=127.0.0.1:1/nosuch,target=/x true\n", "Dockerfile:2: RUN --mount from=127.0.0.1:1/nosuch: no such stage or image"}, // an image then, pulled from a port nothing listens on
		{"required ssh", "FROM busybox\nRUN --mount=type=ssh,required true\n", "Dockerfile:2: RUN --mount=type=ssh,id=default: the ssh agent is required but was not given: pass --ssh default"},
		{"required secret env", "FROM busybox\nRUN --mount=type=secret,id=npm,env=NPM,required true\n", "Dockerfile:2: RUN --mount=type=secret,id=npm: the secret is required but was not given"},
		{"ssh source", "FROM busybox\nRUN --mount=type=ssh,source=/x true\n", "Dockerfile:2: RUN --mount=type=ssh,source=/x: only bind and cache mounts take from or source"},
		{"required secret", "FROM busybox\nRUN --mount=type=secret,id=npm,required=true true\n", "Dockerfile:2: RUN --mount=type=secret,id=npm: the secret is required but was not given"},
		{"unknown option", "FROM busybox\nRUN --mount=type=bind,target=/x,colour=red true\n", `Dockerfile:2: RUN --mount=type=bind,target=/x,colour=red: unknown option "colour"`},
		{"bad sharing", "FROM busybox\nRUN --mount=type=cache,target=/x,sharing=some true\n", "Dockerfile:2: RUN --mount sharing=some: want shared, private or locked"},
		{"missing source", "FROM busybox\nRUN --mount=source=nosuch,target=/x true\n", `Dockerfile:2: RUN --mount source=nosuch: "nosuch" not found`},
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
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	if _, _, err := doBuild(t, e, engine.BuildOptions{Context: dir, Secrets: []string{"src=/etc/hostname"}}); err == nil || !strings.Contains(err.Error(), "--secret src=/etc/hostname: needs id=NAME") {
		t.Errorf("--secret without id: got %v", err)
	}
}

func TestRunMountCacheLocked(t *testing.T) {
	e := newEngine(t)
	// Two independent stages run in parallel; sharing=locked makes their
	// RUNs take turns on the cache, so the log never interleaves (with
	// sharing=shared it reads start, start, end, end).
	run := "RUN --mount=type=cache,id=lk,target=/c,sharing=locked echo start >> /c/log && sleep 0.3 && echo end >> /c/log && touch /done\n"
	df := "FROM busybox AS a\n" + run + "FROM busybox AS b\nENV B=1\n" + run +
		"FROM busybox\nCOPY --from=a /done /a\nCOPY --from=b /done /b\nRUN --mount=type=cache,id=lk,target=/c,sharing=locked cp /c/log /log\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"lk:1"}})
	if got := imageFiles(t, e, "lk:1")["log"]; got != "file 644 0:0 start\nend\nstart\nend\n" {
		t.Errorf("locked cache log = %q, want two whole turns", got)
	}
}

func TestRunMountBindHonoursDockerignore(t *testing.T) {
	e := newEngine(t)
	df := "FROM busybox\nRUN --mount=target=/c ls -A /c > /ls && ls -A /c/sub > /lssub\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df, ".dockerignore": "private.key\nsub/*.log\n",
		"private.key": "k", "app.txt": "a", "sub/keep.txt": "k", "sub/debug.log": "d"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"ig:1"}})
	want := map[string]string{"ls": "file 644 0:0 .dockerignore\nDockerfile\napp.txt\nsub\n", "lssub": "file 644 0:0 keep.txt\n"}
	if diff := cmp.Diff(want, pick(imageFiles(t, e, "ig:1"), "ls", "lssub")); diff != "" {
		t.Errorf("what the bind mount shows (-want +got):\n%s", diff)
	}
}

func TestRunMountCacheSeededFromStage(t *testing.T) {
	e := newEngine(t)
	df := "FROM busybox AS gen\nRUN mkdir -p /data && echo seed > /data/x\n" +
		"FROM busybox\nRUN --mount=type=cache,id=seeded,target=/c,from=gen,source=/data,uid=1000,gid=50,mode=0700 stat -c %a:%u:%g /c > /st && cat /c/x > /seed\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"seed:1"}})
	want := map[string]string{"st": "file 644 0:0 700:1000:50\n", "seed": "file 644 0:0 seed\n"}
	if diff := cmp.Diff(want, pick(imageFiles(t, e, "seed:1"), "st", "seed")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
