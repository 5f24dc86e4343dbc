package archive

import (
	"archive/tar"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Reusing a file instead of writing it (ApplyOptions.Reuse). A small
// regular file is read whole from the tar and hashed before anything is
// written; the callee (the file pool) may then link a file it already has
// with that content and metadata in its place, and Apply writes nothing
// for it. A layer whose files the store already has (an image rebuilt,
// re-tagged or re-compressed, the same rootfs under another layer digest)
// is then links, not writes that the pool would replace by links after.
// The hashing then happens on the unpacker, not beside it, so Apply stops
// offering files once they are mostly not taken (a layer of new files).

const (
	// reuseMax is the largest file offered: it is held in memory whole.
	// Larger files are written and pooled after, as before.
	reuseMax = 1 << 20
	// reuseProbe files are offered whatever comes of it; after them,
	// files are offered while at least one in reuseShare was taken.
	reuseProbe = 32
	reuseShare = 4
)

// reuser is what Apply keeps for Reuse.
type reuser struct {
	buf            []byte          // a file's content, reuseMax bytes
	offered, taken int             // files offered to Reuse, and taken
	aclDirs        map[string]bool // directory → it has a default ACL
}

// reusable tells whether hdr's file is to be offered to Reuse: a plain
// regular file of at most reuseMax bytes, without xattrs (whose setting
// may change its mode), written as root with its owner kept, while the
// offers are worth their cost.
func (a *applier) reusable(hdr *tar.Header) bool {
	if a.opts.Reuse == nil || a.hasher == nil || a.upper || !a.isRoot || a.opts.NoSameOwner {
		return false
	}
	if hdr.Typeflag == tar.TypeGNUSparse || isSparse(hdr) || hdr.Size <= 0 || hdr.Size > reuseMax {
		return false
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || int64(hdr.Uid) >= 1<<32-1 || int64(hdr.Gid) >= 1<<32-1 {
		return false
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattr) {
			return false
		}
	}
	r := &a.reuse
	return r.offered < reuseProbe || r.taken*reuseShare >= r.offered
}

// readWhole reads the content of hdr's file (reusable: at most
// reuseMax bytes) from tr and hashes it.
func (a *applier) readWhole(hdr *tar.Header, tr *tar.Reader) ([]byte, digest.Digest, error) {
	r := &a.reuse
	if r.buf == nil {
		r.buf = make([]byte, reuseMax)
	}
	content := r.buf[:hdr.Size]
	if _, err := io.ReadFull(tr, content); err != nil {
		return nil, "", err
	}
	alg, h := a.hasher.newHash()
	h.Write(content)
	return content, digest.NewDigest(alg, h), nil
}

// offer offers hdr's file, with content (whose digest is dgst), to Reuse
// at pfd/base (rel, in the directory dir) and tells whether Reuse put it
// there.
func (a *applier) offer(pfd int, dir, base, rel string, hdr *tar.Header, content []byte, dgst digest.Digest) bool {
	if a.defaultACL(pfd, dir) {
		// A file made in a directory with a default ACL would get an
		// ACL of its own: what a pooled file does not have.
		return false
	}
	r := &a.reuse
	r.offered++
	want := fileStat(hdr)
	if !a.opts.Reuse(pfd, base, rel, &want, content, dgst) {
		return false
	}
	r.taken++
	return true
}

// fileStat is the lstat a regular file without xattrs has once Apply
// has written it from hdr (as root, its owner kept): the fields
// ApplyOptions.Reuse is given.
func fileStat(hdr *tar.Header) unix.Stat_t {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	return unix.Stat_t{
		Mode:  unix.S_IFREG | uint32(hdr.Mode&0o7777),
		Nlink: 1,
		Uid:   uint32(hdr.Uid),
		Gid:   uint32(hdr.Gid),
		Size:  hdr.Size,
		Atim:  unix.NsecToTimespec(atime.UnixNano()),
		Mtim:  unix.NsecToTimespec(hdr.ModTime.UnixNano()),
	}
}

// defaultACL tells whether the directory dir (open as pfd) may have a
// default ACL, which a file made in it inherits: true if it has one or if
// that cannot be read (no /proc, say; the file is then just written).
// Asked once per directory.
func (a *applier) defaultACL(pfd int, dir string) bool {
	r := &a.reuse
	if has, ok := r.aclDirs[dir]; ok {
		return has
	}
	_, err := unix.Getxattr("/proc/self/fd/"+strconv.Itoa(pfd), "system.posix_acl_default", nil)
	has := !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP)
	if r.aclDirs == nil {
		r.aclDirs = map[string]bool{}
	}
	r.aclDirs[dir] = has
	return has
}
