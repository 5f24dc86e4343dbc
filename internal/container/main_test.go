package container

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/snapshot/overlay"
	"github.com/strata-project/strata/internal/testutil"
)

// TestMain doubles as the strata binary's hidden commands: the store
// re-executes this test binary as the container monitor and as --init.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 {
		switch os.Args[1] {
		case "container-monitor":
			if err := runtime.MonitorMain(os.Args[2]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Exit(0)
		case runtime.StandbyCommand:
			if err := runtime.StandbyMain(os.Args[2], os.Args[3]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Exit(0)
		case "init-reaper":
			if err := runtime.InitMain(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(125)
			}
		}
	}
	os.Exit(m.Run())
}

// requireRunc skips unless root with runc installed.
func requireRunc(t *testing.T) {
	t.Helper()
	testutil.RequiresRoot(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skipf("skipping %s: runc is not installed (apt-get install runc)", t.Name())
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skipf("skipping %s: /bin/busybox missing (apt-get install busybox-static)", t.Name())
	}
}

type snapshotterKind struct {
	name string
	open func(root string) (Snapshotter, error)
}

var snapshotters = []snapshotterKind{
	{"overlay", func(root string) (Snapshotter, error) { return overlay.New(root) }},
	{"native", func(root string) (Snapshotter, error) { return native.New(root) }},
}

// fullSnapshotter is what tests need beyond the store's interface.
type fullSnapshotter interface {
	Snapshotter
	Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error
}

// newStore makes a store on a fresh root with a busybox image committed as
// the snapshot "busybox" (returned as its chain ID).
func newStore(t *testing.T, kind snapshotterKind) (*Store, string) {
	t.Helper()
	requireRunc(t)
	return newStoreTB(t, kind)
}

func newStoreTB(t testing.TB, kind snapshotterKind) (*Store, string) {
	t.Helper()
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root := t.TempDir()
	sn, err := kind.open(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	full := sn.(fullSnapshotter)
	if _, err := full.Prepare(ctx, "extract-busybox", ""); err != nil {
		t.Fatal(err)
	}
	upper, err := full.UpperDir(ctx, "extract-busybox")
	if err != nil {
		t.Fatal(err)
	}
	writeBusybox(t, upper)
	if err := full.Commit(ctx, "busybox", "extract-busybox"); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Root: root, Snapshotter: sn, MonitorCommand: []string{exe, "container-monitor"}, RemoveCommand: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupStore(t, s) })
	return s, "busybox"
}

// cleanupStore force-removes every container left, so no process or mount
// outlives the test.
func cleanupStore(t testing.TB, s *Store) {
	ids, _ := s.ids()
	for _, id := range ids {
		if err := s.Remove(context.Background(), id, true); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if left, _ := mountsUnder(s.root); len(left) > 0 {
		t.Errorf("mounts left under the root: %v", left)
	}
}

func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir) {
			out = append(out, f[1])
		}
	}
	return out, nil
}

// writeBusybox writes a busybox rootfs: the static binary, a link per
// applet, /etc/passwd and /etc/group, and a few files the tests change.
func writeBusybox(t testing.TB, root string) {
	t.Helper()
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home/app", "srv/old", "www", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/busybox", "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "bin/busybox" {
			continue
		}
		_ = os.Symlink("/bin/busybox", filepath.Join(root, p))
	}
	files := map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":      "root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n",
		"etc/data.txt":   "original\n",
		"etc/old.txt":    "to be deleted\n",
		"srv/old/a.txt":  "a\n",
		"www/index.html": "hello from strata\n",
		"etc/notexec.sh": "#!/bin/sh\necho hi\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
