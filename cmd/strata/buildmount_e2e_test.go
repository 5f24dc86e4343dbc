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
