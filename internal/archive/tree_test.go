package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// node is what a round trip must keep of one entry.
type node struct {
	Type      string
	Mode      uint32 // permission bits with setuid, setgid, sticky
	UID, GID  uint32
	Size      int64
	Mtime     int64 // seconds; directories included
	Link      string
	Xattrs    map[string]string
	Content   string // sha256 of a regular file
	Rdev      uint64
	LinkGroup string // first path (sorted) sharing this inode, for files with nlink > 1
}

// readTree describes every entry under root (root excluded).
func readTree(t testing.TB, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		n := node{Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Mtime: st.Mtim.Sec}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			n.Type, n.Size = "file", st.Size
			n.Content = fileHash(t, p)
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		case unix.S_IFDIR:
			n.Type = "dir"
		case unix.S_IFLNK:
			n.Type = "symlink"
			n.Link, _ = os.Readlink(p)
		case unix.S_IFCHR:
			n.Type, n.Rdev = "char", st.Rdev
		case unix.S_IFBLK:
			n.Type, n.Rdev = "block", st.Rdev
		case unix.S_IFIFO:
			n.Type = "fifo"
		default:
			n.Type = "other"
		}
		x, err := readXattrs(p, skipOverlayXattr)
		if err != nil {
			return err
		}
		if len(x) > 0 {
			n.Xattrs = x
		}
		out[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, paths := range inodes {
		sort.Strings(paths)
		for _, p := range paths {
			n := out[p]
			n.LinkGroup = paths[0]
			out[p] = n
		}
	}
	return out
}

func fileHash(t testing.TB, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// fixture builds trees for tests with a fixed mtime on everything it makes.
type fixture struct {
	t    testing.TB
	root string
}

var fixedTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func (f fixture) path(rel string) string { return filepath.Join(f.root, filepath.FromSlash(rel)) }

func (f fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f fixture) dir(rel string, mode os.FileMode) {
	f.t.Helper()
	f.must(os.MkdirAll(f.path(rel), 0o755))
	f.must(unix.Chmod(f.path(rel), uint32(mode)))
}

func (f fixture) file(rel, content string, mode os.FileMode) {
	f.t.Helper()
	f.must(os.MkdirAll(filepath.Dir(f.path(rel)), 0o755))
	f.must(os.WriteFile(f.path(rel), []byte(content), 0o644))
	f.must(unix.Chmod(f.path(rel), uint32(mode)))
}

func (f fixture) symlink(rel, target string) {
	f.t.Helper()
	f.must(os.Symlink(target, f.path(rel)))
}

func (f fixture) xattr(rel, name, value string) {
	f.t.Helper()
	f.must(unix.Lsetxattr(f.path(rel), name, []byte(value), 0))
}

func (f fixture) chown(rel string, uid, gid int) {
	f.t.Helper()
	f.must(os.Lchown(f.path(rel), uid, gid))
}

// stamp sets every mtime (and atime) under root to fixedTime, deepest first.
func (f fixture) stamp() {
	f.t.Helper()
	var paths []string
	f.must(filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	ts := []unix.Timespec{unix.NsecToTimespec(fixedTime.UnixNano()), unix.NsecToTimespec(fixedTime.UnixNano())}
	for i := len(paths) - 1; i >= 0; i-- {
		f.must(unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// listAll lists every path under dir, for checking nothing appeared outside a root.
func listAll(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, strings.TrimPrefix(p, dir)+" "+info.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
