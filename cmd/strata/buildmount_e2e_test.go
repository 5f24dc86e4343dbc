package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// TestCLIBuildSecretAndCacheMount runs `strata build --secret` with a
// secret and a cache mount, then `builder prune --all`.
func TestCLIBuildSecretAndCacheMount(t *testing.T) {
	testutil.RequiresRoot(t)
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", rootfs, "busybox")
	ctx := t.TempDir()
	df := "FROM busybox\n" +
		"RUN --mount=type=secret,id=tok,required wc -c < /run/secrets/tok > /n\n" +
		"RUN --mount=type=cache,id=c1,target=/c echo x >> /c/log && wc -l < /c/log > /cn\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tok, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "build", "-q", "--secret", "id=tok,src="+tok, "-t", "m:1", ctx)
	if out := mustStrata(t, root, "run", "--rm", "m:1", "cat", "/n", "/cn"); out != "5\n1\n" {
		t.Errorf("run cat /n /cn = %q, want the secret's length and one cache line", out)
	}
	if _, err := os.Stat(filepath.Join(root, "build-cache-mounts", "c1", "log")); err != nil {
		t.Errorf("cache mount dir: %v", err)
	}
	r := strata(t, root, "build", "-q", "-t", "m:2", ctx)
	if r.code != 1 || !strings.Contains(r.stderr, "Dockerfile:2: RUN --mount=type=secret,id=tok: the secret is required") {
		t.Errorf("build without the secret: exit %d, stderr %q", r.code, r.stderr)
	}
	mustStrata(t, root, "builder", "prune", "--all")
	if _, err := os.Stat(filepath.Join(root, "build-cache-mounts")); !os.IsNotExist(err) {
		t.Errorf("builder prune --all left the cache mounts (%v)", err)
	}
}

// TestCLIBuilderPruneCacheMount: system df counts a cache mount as build
// cache (-v lists it), builder prune removes it without --all and prints
// what it removed and the total, as docker does.
func TestCLIBuilderPruneCacheMount(t *testing.T) {
	testutil.RequiresRoot(t)
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", rootfs, "busybox")
	ctx := t.TempDir()
	df := "FROM busybox\nRUN --mount=type=cache,id=gomod,target=/c head -c 200000 /dev/urandom > /c/blob && echo built > /done\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "build", "-q", "-t", "pc:1", ctx)
	row := func(out, prefix string) []string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(strings.TrimPrefix(l, prefix))
			}
		}
		return nil
	}
	// The image holds the RUN's layer (active, counted in Images); the
	// cache mount is the cache's own.
	out := mustStrata(t, root, "system", "df")
	if got := row(out, "Build Cache"); len(got) != 4 || got[0] != "2" || got[1] != "1" || !strings.HasPrefix(got[2], "20") || got[2] != got[3] {
		t.Errorf("Build Cache row %v, want 2 entries, 1 active, about 200kB all reclaimable:\n%s", got, out)
	}
	out = mustStrata(t, root, "system", "df", "-v")
	if got := row(out, "gomod"); len(got) < 2 || got[0] != "exec.cachemount" || !strings.Contains(out, "Build cache usage: 20") {
		t.Errorf("df -v: gomod row %v:\n%s", got, out)
	}
	if r := strata(t, root, "builder", "prune", "--filter", "label=x"); r.code != 1 || !strings.Contains(r.stderr, "takes only until=DURATION") {
		t.Errorf("prune --filter label=x: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := mustStrata(t, root, "builder", "prune", "--filter", "until=1h"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune --filter until=1h right after the build:\n%s", out)
	}
	out = mustStrata(t, root, "builder", "prune")
	if !strings.HasPrefix(out, "Deleted build cache objects:\ngomod\n\nTotal reclaimed space: 20") {
		t.Errorf("builder prune printed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "build-cache-mounts")); !os.IsNotExist(err) {
		t.Errorf("builder prune left the cache mounts (%v)", err)
	}
	if out := mustStrata(t, root, "run", "--rm", "pc:1", "cat", "/done"); out != "built\n" {
		t.Errorf("the image after the prune: %q", out)
	}
}
