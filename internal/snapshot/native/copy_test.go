package native

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/snapshot/snapshottest"
)

// entry is what the copy must keep of one file.
type entry struct {
	Mode       uint32
	UID, GID   uint32
	Rdev       uint64
	Mtime      int64
	Content    string
	Link       string
	Xattrs     map[string]string
	LinkedWith string // the first path sharing the inode
}

func scan(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	inodes := map[uint64]string{}
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		e := entry{Mode: st.Mode, UID: st.Uid, GID: st.Gid, Rdev: st.Rdev, Mtime: st.Mtim.Nano()}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			e.Content = string(b)
			if first, ok := inodes[st.Ino]; ok {
				e.LinkedWith = first
			} else {
				inodes[st.Ino] = rel
			}
		case unix.S_IFLNK:
			e.Link, _ = os.Readlink(path)
		}
		names, err := listXattrs(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			v, err := getXattr(path, n)
			if err != nil {
				return err
			}
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[n] = string(v)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCopyTreeKeepsEverything(t *testing.T) {
	snapshottest.RequiresRoot(t) // chown, mknod and trusted xattrs
	src := filepath.Join(t.TempDir(), "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "dir/sub"), 0o755))
	must(os.WriteFile(filepath.Join(src, "dir/file"), []byte("hello"), 0o640))
	must(os.WriteFile(filepath.Join(src, "setuid"), []byte("#!/bin/sh"), 0o755))
	must(os.Chown(filepath.Join(src, "setuid"), 1000, 1000))
	must(unix.Chmod(filepath.Join(src, "setuid"), 0o4755))
	must(unix.Chmod(filepath.Join(src, "dir/sub"), 0o1777))
	must(os.Link(filepath.Join(src, "dir/file"), filepath.Join(src, "hardlink")))
	must(os.Symlink("dir/file", filepath.Join(src, "symlink")))
	must(os.Lchown(filepath.Join(src, "symlink"), 7, 8))
	must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(src, "whiteout"), unix.S_IFCHR, 0))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(unix.Lsetxattr(filepath.Join(src, "dir/file"), "user.note", []byte("kept"), 0))
	must(unix.Lsetxattr(filepath.Join(src, "dir"), "trusted.overlay.opaque", []byte("y"), 0))
	old := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	for _, p := range []string{"dir/file", "dir/sub", "dir", "fifo", ""} {
		must(os.Chtimes(filepath.Join(src, p), old, old))
	}
	must(unix.Lutimes(filepath.Join(src, "symlink"), []unix.Timeval{unix.NsecToTimeval(old.UnixNano()), unix.NsecToTimeval(old.UnixNano())}))

	dst := filepath.Join(t.TempDir(), "dst")
	if err := copyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(scan(t, src), scan(t, dst)); diff != "" {
		t.Errorf("copy differs (-src +dst):\n%s", diff)
	}
}
