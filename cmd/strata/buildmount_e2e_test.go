package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// TestCLIBuildSecretAndCacheMount runs `strata build --secret` with a
// secret and a cache mount, then `builder prune --all`.
func TestCLIBuildSecretAndCacheMount(t *testing.T) {
	testutil.RequiresRoot(t)
	root, ctx := busyboxStore(t)
	df := "FROM busybox\n" +
		"RUN --mount=type=secret,id=tok,required wc -c < /run/secrets/tok > /n\n" +
		"RUN --mount=type=cache,id=c1,target=/c echo x >> /c/log && wc -l < /c/log > /cn\n"
	writeDockerfile(t, ctx, df)
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

// TestCLIBuildSSHAndSecretEnv runs `strata build --ssh ID=KEYFILE` with an
// ssh mount that lists the key through a helper, and `--secret` given to
// a RUN as a variable; without --ssh the required mount fails the build.
func TestCLIBuildSSHAndSecretEnv(t *testing.T) {
	testutil.RequiresRoot(t)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("skipping: needs ssh-keygen (apt-get install openssh-client)")
	}
	root, ctx := busyboxStore(t)
	helper := exec.Command("go", "build", "-o", filepath.Join(ctx, "sshlist"), "../../internal/build/testdata/sshlist")
	helper.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := helper.CombinedOutput(); err != nil {
		t.Fatalf("build the sshlist helper: %v\n%s", err, out)
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	fp, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
	if err != nil || len(strings.Fields(string(fp))) < 2 {
		t.Fatalf("ssh-keygen -l: %q %v", fp, err)
	}
	df := "FROM busybox\n" +
		"RUN --mount=type=ssh,id=deploy,required --mount=source=sshlist,target=/t /t > /keys\n" +
		"RUN --mount=type=secret,id=tok,env=TOK,required printf %s \"$TOK\" | wc -c > /n\n"
	writeDockerfile(t, ctx, df)
	tok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tok, []byte("1234567"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "build", "-q", "--ssh", "deploy="+key, "--secret", "id=tok,src="+tok, "-t", "s:1", ctx)
	want := strings.Fields(string(fp))[1] + " signed\nremove refused\n7\n"
	if out := mustStrata(t, root, "run", "--rm", "s:1", "cat", "/keys", "/n"); out != want {
		t.Errorf("run cat /keys /n = %q, want %q", out, want)
	}
	if out := mustStrata(t, root, "run", "--rm", "s:1", "env"); strings.Contains(out, "TOK=") || strings.Contains(out, "SSH_AUTH_SOCK") {
		t.Errorf("the image's environment holds the secret or the agent:\n%s", out)
	}
	r := strata(t, root, "build", "-q", "--secret", "id=tok,src="+tok, "-t", "s:2", ctx)
	if r.code != 1 || !strings.Contains(r.stderr, "Dockerfile:2: RUN --mount=type=ssh,id=deploy: the ssh agent is required but was not given: pass --ssh deploy") {
		t.Errorf("build without --ssh: exit %d, stderr %q", r.code, r.stderr)
	}
	if help := mustStrata(t, root, "build", "--help"); !strings.Contains(help, "--ssh stringArray") || !strings.Contains(help, "--mount=type=ssh") {
		t.Errorf("build --help does not tell of --ssh:\n%s", help)
	}
}

// TestCLIBuilderPruneCacheMount: system df counts a cache mount as build
// cache (-v lists it), builder prune removes it without --all and prints
// what it removed and the total, as docker does.
func TestCLIBuilderPruneCacheMount(t *testing.T) {
	testutil.RequiresRoot(t)
	root, ctx := busyboxStore(t)
	df := "FROM busybox\nRUN --mount=type=cache,id=gomod,target=/c head -c 200000 /dev/urandom > /c/blob && echo built > /done\n"
	writeDockerfile(t, ctx, df)
	mustStrata(t, root, "build", "-q", "-t", "pc:1", ctx)
	row := func(out, prefix string) []string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(strings.TrimPrefix(l, prefix))
			}
		}
		return nil
	}
	// The image holds the RUN's layer (counted in Images); the cache mount
	// is the cache's own. No build runs, so none is active (as in docker).
	out := mustStrata(t, root, "system", "df")
	if got := row(out, "Build Cache"); len(got) != 4 || got[0] != "2" || got[1] != "0" || !strings.HasPrefix(got[2], "20") || got[2] != got[3] {
		t.Errorf("Build Cache row %v, want 2 entries, 0 active, about 200kB all reclaimable:\n%s", got, out)
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

// busyboxStore makes a store with busybox imported and an empty build
// context.
func busyboxStore(t *testing.T) (root, ctx string) {
	t.Helper()
	root = t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", rootfs, "busybox")
	return root, t.TempDir()
}

func writeDockerfile(t *testing.T, ctx, df string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
}
