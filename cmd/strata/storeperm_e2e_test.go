package main

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// nobody is the unprivileged host user of these tests (setpriv
// --reuid=65534 --regid=65534 --clear-groups, as the report did).
var nobody = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}

// reachableRoot returns a store path whose parents any user may traverse
// (t.TempDir's 0700 parent would hide the store's own mode), removed at
// the end.
func reachableRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "strata-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "store")
}

// asNobody runs a shell script as the unprivileged user.
func asNobody(t *testing.T, script string, stdin string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = nobody
	cmd.Dir = "/"
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The local root exploit of issue #13: container root plants a setuid
// copy of a binary in its own filesystem; a host user finds the merged
// rootfs in /proc/self/mountinfo and runs it. The store root must refuse
// the path, as docker's data root does.
func TestStoreSetuidFromContainerUnreachable(t *testing.T) {
	store := reachableRoot(t)
	root := containerRootAt(t, store)
	mustStrata(t, root, "run", "-d", "--name", "planter", "bb", "sh", "-c",
		"cp /bin/busybox /id && chmod 4755 /id && echo planted && exec sleep 600")
	waitLog(t, root, "planter", "planted")

	// The planted binary is there, seen by root through the host's mount table.
	var merged string
	for _, m := range mountsUnder(root) {
		if _, err := os.Stat(filepath.Join(m, "id")); err == nil {
			merged = m
		}
	}
	if merged == "" {
		t.Fatalf("no mounted rootfs under %s holds /id: %v", root, mountsUnder(root))
	}
	// The host user can read the mount table but not use the path.
	if out, err := asNobody(t, "grep -c "+merged+" /proc/self/mountinfo", ""); err != nil || strings.TrimSpace(out) == "0" {
		t.Fatalf("the test's premise: the merged path should be listed in mountinfo: %q %v", out, err)
	}
	// Before the fix this ran busybox's id applet from the setuid copy.
	out, err := asNobody(t, merged+"/id -u", "")
	if err == nil {
		t.Fatalf("a host user ran the container's setuid binary: %q (err %v)", out, err)
	}
	if !strings.Contains(out, "Permission denied") {
		t.Errorf("want permission denied, got %q", out)
	}
}

// No host user but root may read anything in the store: blobs, snapshots,
// the metadata, containers and their mounted rootfs, logs. An old store
// (0711) is repaired on open.
func TestStorePathsUnreadable(t *testing.T) {
	store := reachableRoot(t)
	root := containerRootAt(t, store)
	mustStrata(t, root, "run", "-d", "--name", "keep", "bb", "sh", "-c", "echo up && exec sleep 600")
	waitLog(t, root, "keep", "up")

	// As the first milestone left stores: root enterable by everyone.
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "ps")
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store root after open: %v %v, want 0700", fi.Mode(), err)
	}

	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if len(paths) < 100 {
		t.Fatalf("walked only %d paths under the store", len(paths))
	}
	// For each path: can the user see it at all, read it, list it?
	script := `ls "$0" >/dev/null 2>&1 && echo "LIST $0"
while IFS= read -r p; do
  if [ -e "$p" ] || [ -L "$p" ]; then echo "SEES $p"; fi
  if [ -d "$p" ]; then ls "$p" >/dev/null 2>&1 && echo "LIST $p"
  else cat "$p" >/dev/null 2>&1 </dev/null && echo "READ $p"; fi
done
exit 0`
	cmd := exec.Command("/bin/sh", "-c", script, root)
	cmd.SysProcAttr = nobody
	cmd.Dir = "/"
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe as nobody: %v", err)
	}
	var leaks []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		leaks = append(leaks, sc.Text())
	}
	if len(leaks) > 0 {
		if len(leaks) > 20 {
			leaks = append(leaks[:20], "...")
		}
		t.Errorf("a host user reaches %d store paths:\n%s", len(leaks), strings.Join(leaks, "\n"))
	}
	t.Logf("probed %d store paths as uid 65534", len(paths))
}

// containerRootAt is containerRoot with the store at a path of the test's
// choosing.
func containerRootAt(t *testing.T, store string) string {
	t.Helper()
	root := containerRoot(t)
	// containerRoot made the busybox image in a fresh store; move the whole
	// store (nothing is mounted yet) to where the test wants it.
	if err := os.Rename(root, store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ids := strings.Fields(strata(t, store, "ps", "-aq").stdout); len(ids) > 0 {
			strata(t, store, append([]string{"rm", "-f"}, ids...)...)
		}
	})
	return store
}

// waitLog waits until the container's log holds want.
func waitLog(t *testing.T, root, name, want string) {
	t.Helper()
	var r result
	if !testutil.Poll(testutil.Patience, func() bool {
		r = strata(t, root, "logs", name)
		return strings.Contains(r.stdout, want)
	}) {
		t.Fatalf("container %s never logged %q (logs: %q %q)", name, want, r.stdout, r.stderr)
	}
}
