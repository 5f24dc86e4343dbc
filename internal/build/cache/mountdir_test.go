package cache

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTakeMount: a prune takes a cache mount away only when it gets the
// lock without waiting, and then removes the lock file with the
// directory, so that a build waiting on the old file locks a new one.
func TestTakeMount(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "m", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(dir, "m.lock")
	for _, how := range []int{unix.LOCK_SH, unix.LOCK_EX} {
		build, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(build.Fd()), how); err != nil {
			t.Fatal(err)
		}
		trash, err := takeMount(dir, "m")
		build.Close()
		if err != nil || trash != "" {
			t.Fatalf("takeMount of a mount a build holds (flock %d) = %q, %v; want it left", how, trash, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "m", "sub")); err != nil {
			t.Fatalf("the held mount was touched: %v", err)
		}
	}
	trash, err := takeMount(dir, "m")
	if err != nil || trash == "" {
		t.Fatalf("takeMount of an idle mount = %q, %v", trash, err)
	}
	if _, err := os.Stat(filepath.Join(trash, "m", "sub")); err != nil {
		t.Errorf("the renamed tree: %v", err)
	}
	for _, p := range []string{filepath.Join(dir, "m"), lockPath} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	if trash, err := takeMount(dir, "m"); err != nil || trash != "" {
		t.Errorf("takeMount of a gone mount = %q, %v; want nothing", trash, err)
	}
}
