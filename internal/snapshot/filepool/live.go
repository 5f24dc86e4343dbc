package filepool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Pooling a layer's files as they are written. When the unpacker writes
// the snapshot's own directory (not through an overlay mount), each file
// is pooled as soon as its digest is noted, on the unpacker's hasher
// goroutine, while the unpacker goes on with the files after it; the pass
// at commit then has only the files this could not pool to look at. That
// takes the pass (a stat, the xattr list and a link per file, ~80 ms for
// the Debian image's 5,300 files) off the end of a pull or a load, where
// it added to the wall time (issue #16: dedupe on at most 1.10x of off).
//
// It relies on what archive.Apply promises its FileDigest callback: the
// file noted is whole, with its final owner, mode, xattrs and times, and
// nothing in the tree is removed, replaced or linked to until the calls
// for the files written before have returned. So the file at the path
// noted is the one hashed, and a later entry replacing it (or a whiteout
// removing it) comes after its pooling. Nothing is journaled: the
// directory times a replacement moves are set by the unpacker after (a
// directory of the layer) or were "now" anyway (a directory it created
// without an entry), and a snapshot being unpacked is discarded whole on
// a crash. A hard link the layer makes to a file pooled so comes through
// Unshare first, which gives the file an inode of its own back: a layer's
// own hard links never land on a pool inode (see doc.go, Safety).

// Live pools the files of one tree as they are noted.
type Live struct {
	p      *Pool
	h      *Hashes
	rootfd int
	pass   pass // the tree's root and the pool's sha256/ directory

	mu     sync.Mutex
	dirRel string // the directory last opened, "" for none
	dirfd  int
}

// Live returns what pools the files written under root (the snapshot's
// own directory, written directly) as they are noted into h. Close it once
// the writer is done.
func (p *Pool) Live(root string, h *Hashes) (*Live, error) {
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pool files of %s: %w", root, err)
	}
	shards, err := unix.Open(path.Join(p.root, "sha256"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(rootfd)
		return nil, fmt.Errorf("pool files of %s: open file pool: %w", root, err)
	}
	return &Live{p: p, h: h, rootfd: rootfd, pass: pass{root: root, shards: shards}, dirfd: -1}, nil
}

// Note notes the file at rel (a clean path relative to the tree's root)
// with stat st and content dgst, as Hashes.Note, and pools it. A file it
// cannot pool (several links, too small, an overlay xattr, an error) is
// left to the pass at commit, which also reports the errors.
func (l *Live) Note(rel string, st *unix.Stat_t, dgst digest.Digest) {
	l.h.note(rel, st, dgst, l.pool(rel, st, dgst))
}

// pool pools the file at rel (stat st, content dgst) and returns its key,
// or "" if it left it as it was.
func (l *Live) pool(rel string, st *unix.Stat_t, dgst digest.Digest) string {
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || st.Size < l.p.minSize() {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	dirfd, name, err := l.dir(rel)
	if err != nil {
		return ""
	}
	xattrs, err := xattrsAt(dirfd, name)
	if err != nil || !poolable(xattrs) {
		return ""
	}
	k := key(dgst, st, xattrs)
	if pooled, _, err := l.p.link(dirfd, name, k, st, nil, &l.pass); err != nil || !pooled {
		return ""
	}
	return k
}

// Reuse puts at dirfd/name (rel in the tree, nothing there yet) the
// pool's entry for a file with content (whose digest is dgst) and the
// lstat want (type and mode, owner, size, mtime; no xattrs), if the pool
// has one, and notes it as pooled (archive.ApplyOptions.Reuse): the
// unpacker then need not write the file. It returns false, leaving
// nothing at name, when there is no such entry, when the entry is not
// what its key says (fsck reports it) or has other bytes (a digest made
// to collide: see ContentHash) or too many links, or on any error: the
// file is written and pooled as usual.
func (l *Live) Reuse(dirfd int, name, rel string, want *unix.Stat_t, content []byte, dgst digest.Digest) bool {
	if want.Mode&unix.S_IFMT != unix.S_IFREG || want.Size < l.p.minSize() || want.Size != int64(len(content)) {
		return false
	}
	k := key(dgst, want, nil)
	_, entry := entryPath(k)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rootfd < 0 {
		return false
	}
	if err := unix.Linkat(l.pass.shards, entry, dirfd, name, 0); err != nil {
		return false
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	ok := err == nil
	if ok {
		defer unix.Close(fd)
		var st unix.Stat_t
		ok = unix.Fstat(fd, &st) == nil
		if ok {
			w := *want
			w.Dev = st.Dev // the tree's and the pool's filesystem: linkat said so
			xattrs, err := fileXattrs(fd)
			ok = usableEntry(&st, &w) && err == nil && len(xattrs) == 0
		}
		if ok {
			ok, err = sameBytes(fd, content)
			ok = ok && err == nil
		}
		if ok {
			l.h.note(rel, &st, dgst, k)
			return true
		}
	}
	_ = unix.Unlinkat(dirfd, name, 0)
	return false
}

// Unshare gives the file at rel, if Note pooled it, an inode of its own
// again, with the same content and metadata (archive.ApplyOptions.
// BeforeLink): the layer is about to hard-link to it. An entry Note made
// that nothing else links to yet just leaves the pool; otherwise the file
// is copied.
func (l *Live) Unshare(rel string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.h.unpool(rel)
	if k == "" {
		return nil
	}
	dirfd, name, err := l.dir(rel)
	if err != nil {
		return fmt.Errorf("unshare %s: %w", rel, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("unshare %s: %w", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink == 1 {
		return nil
	}
	_, entry := entryPath(k)
	var est unix.Stat_t
	if st.Nlink == 2 && unix.Fstatat(l.pass.shards, entry, &est, unix.AT_SYMLINK_NOFOLLOW) == nil && est.Ino == st.Ino && est.Dev == st.Dev {
		if err := unix.Unlinkat(l.pass.shards, entry, 0); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
	}
	if err := copyOwn(dirfd, name, &st); err != nil {
		return fmt.Errorf("unshare %s: %w", rel, err)
	}
	return nil
}

// Close closes what Live holds open. Files noted after are not pooled.
func (l *Live) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dirfd >= 0 {
		unix.Close(l.dirfd)
		l.dirfd, l.dirRel = -1, ""
	}
	unix.Close(l.pass.shards)
	unix.Close(l.rootfd)
	l.pass.shards, l.rootfd = -1, -1
	return nil
}

// dir returns an open fd of rel's directory (openTreeDir) and rel's name
// in it. The directory is kept open for the next file: a layer's files
// come directory by directory.
func (l *Live) dir(rel string) (int, string, error) {
	if l.rootfd < 0 {
		return -1, "", errors.New("closed")
	}
	d, name := path.Split(rel)
	d = path.Clean(d)
	if d == l.dirRel && l.dirfd >= 0 {
		return l.dirfd, name, nil
	}
	fd, err := openTreeDir(l.rootfd, d)
	if err != nil {
		return -1, "", err
	}
	if l.dirfd >= 0 {
		unix.Close(l.dirfd)
	}
	l.dirRel, l.dirfd = d, fd
	return fd, name, nil
}

// copyOwn replaces dirfd/name (stat st) by a copy of it: the same content,
// owner, mode, xattrs and times in an inode of its own.
func copyOwn(dirfd int, name string, st *unix.Stat_t) (err error) {
	sfd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(sfd), name)
	defer src.Close()
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := ".strata-own-" + hex.EncodeToString(b[:])
	dfd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(dfd), tmp)
	defer func() {
		dst.Close()
		if err != nil {
			_ = unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	xattrs, err := fileXattrs(sfd)
	if err != nil {
		return err
	}
	for k, v := range xattrs {
		if err := unix.Fsetxattr(dfd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", k, err)
		}
	}
	if err := unix.Fchown(dfd, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	// After chown, which clears setuid and setgid.
	if err := unix.Fchmod(dfd, st.Mode&0o7777); err != nil {
		return err
	}
	if err := unix.UtimesNanoAt(dirfd, tmp, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return unix.Renameat(dirfd, tmp, dirfd, name)
}
