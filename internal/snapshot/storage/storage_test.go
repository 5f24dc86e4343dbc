package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/mount"
)

// plain is a Driver that only makes fs/, so these tests need no root.
type plain struct{}

func (plain) Populate(ctx context.Context, s Snapshot) error { return os.Mkdir(s.FS(), 0o755) }
func (plain) Mounts(s Snapshot) []mount.Mount {
	return []mount.Mount{{Type: "bind", Source: s.FS(), Options: []string{"rbind"}}}
}
func (plain) ParentDirs(s Snapshot) []string { return s.Parents }

func TestBusyStore(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, plain{})
	if err != nil {
		t.Fatal(err)
	}
	// Another process's long write transaction, as far as flock can tell.
	db, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 100 * time.Millisecond
	_, err = s.Prepare(context.Background(), "a", "")
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Prepare while the store is locked: got %v, want ErrUnavailable", err)
	}
	db.Close()
	if _, err := s.Prepare(context.Background(), "a", ""); err != nil {
		t.Fatalf("Prepare after the lock is gone: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(ents) != 1 {
		t.Errorf("snapshots dir has %d entries, want 1: the failed Prepare left its temp dir", len(ents))
	}
}

// A crash between renaming a new snapshot to <id> and committing its record
// leaves <id> behind, and the id is handed out again.
func TestLeftoverIDDirIsReplaced(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, plain{})
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, "snapshots", "1", "fs", "stale")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	upper, err := s.UpperDir(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if upper != filepath.Dir(stale) {
		t.Fatalf("UpperDir = %s, want id 1's fs %s", upper, filepath.Dir(stale))
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover file in reused id dir: %v", err)
	}
}

func TestCommitKeepsDirAndChain(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, plain{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	parent := ""
	var uppers []string
	for _, n := range []string{"l1", "l2", "l3"} {
		if _, err := s.Prepare(ctx, "k-"+n, parent); err != nil {
			t.Fatal(err)
		}
		u, err := s.UpperDir(ctx, "k-"+n)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, n, "k-"+n); err != nil {
			t.Fatal(err)
		}
		if u2, err := s.UpperDir(ctx, n); err != nil || u2 != u {
			t.Fatalf("UpperDir(%s) after commit = %s, %v; want %s", n, u2, err, u)
		}
		uppers = append([]string{u}, uppers...)
		parent = n
	}
	if _, err := s.Prepare(ctx, "top", "l3"); err != nil {
		t.Fatal(err)
	}
	dirs, err := s.ParentDirs(ctx, "top")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 3 || dirs[0] != uppers[0] || dirs[2] != uppers[2] {
		t.Errorf("ParentDirs = %v, want %v", dirs, uppers)
	}
}

// The snapshots directory carries the top-of-hierarchy flag where the
// filesystem has it (ext4), so each snapshot tree is placed on its own.
func TestSnapshotsDirIsTopDir(t *testing.T) {
	probe := t.TempDir()
	markTopDir(probe)
	if !hasTopDir(t, probe) {
		t.Skip("this filesystem has no top-of-hierarchy flag (chattr +T)")
	}
	root := t.TempDir()
	if _, err := New(root, plain{}); err != nil {
		t.Fatal(err)
	}
	if !hasTopDir(t, filepath.Join(root, "snapshots")) {
		t.Fatal("snapshots/ lacks FS_TOPDIR_FL")
	}
}

func hasTopDir(t *testing.T, dir string) bool {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	return err == nil && flags&fsTopDirFlag != 0
}
