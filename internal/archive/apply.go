package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// ApplyOptions control Apply. The zero value applies everything as root.
type ApplyOptions struct {
	// Index, if non-nil, receives a tar-split style index of the stream:
	// every byte of the tar except regular-file payloads, and for each
	// payload its path and size, so Rebuild can regenerate the byte-identical
	// tar from the unpacked files. See doc.go for the format.
	Index io.Writer
	// NoSameOwner skips chown (for callers that are not root), skips device
	// entries instead of failing on them, and ignores xattrs the filesystem
	// refuses with ENOTSUP or EPERM.
	NoSameOwner bool
	// FileDigest, if set, is called for each regular file Apply writes,
	// once its content, owner, mode, xattrs and times are set, with its
	// path (clean, relative to root), its lstat then and the digest of
	// its content (by FileHash), hashed as it was written (the file pool
	// takes it so it need not read the file again). A later entry may
	// still change the file: a hard link to it raises its link count, an
	// entry at the same path replaces it (and is reported in its turn).
	// It is called on a goroutine of Apply's own (the hashing overlaps
	// the unpacking), one file at a time in the order written, and every
	// call is made before Apply returns. Apply removes, replaces or links
	// to nothing already in the tree, and sets no directory's times,
	// until every call for the files written before has returned, so the
	// callee may replace the file at rel by another of the same content
	// and metadata (the file pool links its own).
	FileDigest func(rel string, st *unix.Stat_t, dgst digest.Digest)
	// FileHash makes the hash FileDigest's digests are taken with and
	// names its algorithm; nil is SHA-256. It need not resist collisions:
	// a callee that shares files by digest compares their bytes.
	FileHash func() (digest.Algorithm, hash.Hash)
	// BeforeLink, if set with FileDigest, is called before Apply makes a
	// hard link to the file at rel (a clean path relative to root), once
	// FileDigest has returned for every file written before: the callee
	// must leave at rel a file whose inode nothing outside this tree
	// shares (the file pool gives a file it pooled an inode of its own
	// back), so that the layer's own links stay the layer's.
	BeforeLink func(rel string) error
	// Reuse, if set with FileDigest, is offered small regular files
	// without xattrs before Apply writes them, while it takes enough of
	// them (reuse.go): with the file's directory (resolved beneath root),
	// its name there (nothing is there yet), its path, the lstat it would
	// have once written (type and mode, owner, size, times; Nlink 1), its
	// content (valid during the call only) and the digest of that (by
	// FileHash). The callee may put there a file with exactly that
	// content and metadata itself (the file pool links its entry, once
	// its bytes compare equal) and return true: Apply then neither writes nor
	// changes it, and does not call FileDigest for it (the callee notes
	// it). It is called on Apply's goroutine, between FileDigest calls
	// for the files written before.
	Reuse func(dirfd int, name, rel string, st *unix.Stat_t, content []byte, dgst digest.Digest) bool
}

// geteuid is a variable so tests can exercise the non-root device branch.
var geteuid = os.Geteuid

// Apply reads an uncompressed layer tar from r and applies it onto root, the
// full filesystem the layer sits on, following image-spec layer.md:
//
//   - ".wh.NAME" removes NAME (recursively); ".wh..wh..opq" in DIR removes
//     every entry of DIR that this same layer did not write, before or after
//     the marker. Other ".wh..wh." names (aufs bookkeeping) are ignored.
//   - An entry replaces an existing one of another type; a directory over a
//     directory merges and takes the new metadata. Missing parents are
//     created with mode 0755.
//   - Modes (with setuid, setgid, sticky), owners (lchown), xattrs and mtimes
//     are set; directory mtimes last, after their children.
//
// Names are normalized as docker does ("/a" is "a"), but an entry, hardlink
// target or whiteout that leaves root after cleaning ("../x", "a/../../x"),
// and any path whose resolution would pass through a symlink leading out of
// root (including absolute symlinks), is refused with an error wrapping
// errdefs.ErrInvalidArgument and naming the entry; nothing outside root is
// ever written. Symlinks themselves are data and are created whatever they
// point at. Device nodes need root: otherwise Apply fails on them, or skips
// them with NoSameOwner.
//
// Apply returns the number of bytes it read from r, including any padding
// after the end-of-archive blocks, which it drains so the count (and an
// index) covers the whole stream. On error, root holds the entries applied
// so far.
func Apply(ctx context.Context, root string, r io.Reader, opts ApplyOptions) (int64, error) {
	_, n, err := apply(ctx, root, r, opts, false)
	return n, err
}

// apply runs an applier over the tar stream r into root, as Apply or (with
// upper) ApplyOverlay, and returns it with the bytes read from r.
func apply(ctx context.Context, root string, r io.Reader, opts ApplyOptions, upper bool) (*applier, int64, error) {
	rootf, err := os.Open(root)
	if err != nil {
		return nil, 0, fmt.Errorf("apply layer: %w", err)
	}
	defer rootf.Close()
	rr := &recordingReader{r: r}
	if opts.Index != nil {
		rr.idx = newIndexWriter(opts.Index)
	}
	a := &applier{
		rootfd:  int(rootf.Fd()),
		opts:    opts,
		rr:      rr,
		isRoot:  geteuid() == 0,
		touched: map[string]bool{},
		upper:   upper,
	}
	if opts.FileDigest != nil {
		a.hasher = newFileHasher(opts.FileDigest, opts.FileHash)
		// Every file ended is reported before Apply returns.
		defer a.hasher.close()
	}
	if err := a.run(ctx, tar.NewReader(rr)); err != nil {
		return a, rr.n, fmt.Errorf("apply layer to %s: %w", root, err)
	}
	return a, rr.n, nil
}

type dirTime struct {
	rel   string
	atime time.Time
	mtime time.Time
}

type applier struct {
	rootfd   int
	opts     ApplyOptions
	rr       *recordingReader
	isRoot   bool
	touched  map[string]bool // paths this layer wrote, and their ancestors
	dirTimes []dirTime
	// upper: root is an overlayfs upper dir on its own (ApplyOverlay), not
	// the full filesystem; rootSet records a "." entry.
	upper   bool
	rootSet bool
	buf     []byte // for file contents without a hasher (copyBufSize)
	// hasher hashes a regular file's content as writeFile writes it,
	// when opts.FileDigest is set (filehash.go).
	hasher *fileHasher
	reuse  reuser // for opts.Reuse (reuse.go)
}

// onlyWriter hides a file's ReadFrom so io.CopyBuffer uses the buffer.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

func (a *applier) run(ctx context.Context, tr *tar.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	// Drain what follows the end-of-archive blocks (tar's record padding)
	// so the byte count and the index cover the whole stream.
	if _, err := io.Copy(io.Discard, a.rr); err != nil {
		return fmt.Errorf("read tar: %w", err)
	}
	// A directory's times are set after the hasher's callbacks for the
	// files in it: they may have replaced a file there.
	a.settle()
	for _, dt := range a.dirTimes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.setDirTime(dt); err != nil {
			return fmt.Errorf("set mtime of %s: %w", dt.rel, err)
		}
	}
	if a.rr.idx != nil {
		return a.rr.idx.close()
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errdefs.ErrInvalidArgument, fmt.Sprintf(format, args...))
}

func (a *applier) touch(rel string) {
	for p := rel; p != "." && !a.touched[p]; p = path.Dir(p) {
		a.touched[p] = true
	}
}

func (a *applier) entry(hdr *tar.Header, tr *tar.Reader) error {
	rel, ok := cleanName(hdr.Name)
	if !ok {
		return invalid("path escapes the root or holds a NUL byte")
	}
	dir, base := path.Split(rel)
	dir = path.Clean("/" + dir)[1:]
	if dir == "" {
		dir = "."
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		if a.upper {
			return a.upperWhiteout(dir, base)
		}
		return a.whiteout(rel, dir, base)
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return invalid("the root can only be a directory, not type %q", hdr.Typeflag)
		}
		a.rootSet = true
		return a.metadata(hdr, a.rootfd, ".", rel)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	case tar.TypeChar, tar.TypeBlock:
		if !a.isRoot {
			if a.opts.NoSameOwner {
				return nil
			}
			return fmt.Errorf("device node needs root (or NoSameOwner to skip it): %w", errdefs.ErrFailedPrecondition)
		}
	default:
		return invalid("unsupported tar entry type %q", hdr.Typeflag)
	}
	if a.upper && hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
		return needsLower("a 0/0 device node is an overlay whiteout")
	}
	// In an upper dir alone a missing parent may be a directory (or a
	// symlink to one) of a lower layer, which only the full filesystem can
	// tell.
	pfd, err := openDir(a.rootfd, dir, !a.upper)
	if err != nil {
		if a.upper && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
			return needsLower("parent %s is not in the layer", dir)
		}
		return resolveErr(dir, err)
	}
	defer unix.Close(pfd)
	a.touch(rel)

	var existing unix.Stat_t
	err = unix.Fstatat(pfd, base, &existing, unix.AT_SYMLINK_NOFOLLOW)
	exists := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	isDir := exists && existing.Mode&unix.S_IFMT == unix.S_IFDIR
	// A directory made where this layer wrote a whiteout must not show
	// what the lower layers had there: overlayfs makes it opaque, and so
	// does ApplyOverlay.
	opaque := a.upper && exists && hdr.Typeflag == tar.TypeDir && isOverlayWhiteout(&existing)
	if exists && !(hdr.Typeflag == tar.TypeDir && isDir) {
		if hdr.Typeflag == tar.TypeLink {
			if t, ok := cleanName(hdr.Linkname); ok && t == rel {
				return nil // a link to itself: already there
			}
		}
		if err := a.remove(pfd, base); err != nil {
			return fmt.Errorf("replace existing: %w", err)
		}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if !isDir {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return err
			}
		}
		if opaque {
			if err := setOpaque(pfd, base); err != nil {
				return err
			}
		}
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		known, reused, err := a.writeFile(pfd, dir, base, rel, hdr, tr)
		if err != nil || reused {
			return err
		}
		if a.opts.FileDigest != nil {
			if err := a.metadata(hdr, pfd, base, rel); err != nil {
				return err
			}
			var st unix.Stat_t
			if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			a.hasher.end(rel, &st, known)
			return nil
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		return a.hardlink(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		if hdr.Typeflag == tar.TypeChar {
			mode = unix.S_IFCHR
		} else if hdr.Typeflag == tar.TypeBlock {
			mode = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return err
		}
	}
	return a.metadata(hdr, pfd, base, rel)
}

func resolveErr(rel string, err error) error {
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
		return invalid("%s resolves outside the root (through a symlink): %v", rel, err)
	}
	return fmt.Errorf("resolve %s: %w", rel, err)
}

// writeFile writes the content of hdr's regular file at pfd/base (rel, in
// the directory dir) from tr. A file offered to Reuse (reuse.go) is read
// whole and hashed first: reused says the callee put it there and nothing
// was written; known is the digest taken then, "" if none was.
func (a *applier) writeFile(pfd int, dir, base, rel string, hdr *tar.Header, tr *tar.Reader) (known digest.Digest, reused bool, err error) {
	// The index records a payload as a file reference only for a plain
	// file: a sparse file's bytes on disk are not its bytes in the tar.
	asFile := a.rr.idx != nil && hdr.Size > 0 && !isSparse(hdr)
	a.rr.payload = asFile
	defer func() {
		a.rr.payload = false
		if err == nil && asFile {
			a.rr.idx.addFile(rel, hdr.Size)
		}
	}()
	var content []byte
	if a.reusable(hdr) {
		if content, known, err = a.readWhole(hdr, tr); err != nil {
			return "", false, fmt.Errorf("write content: %w", err)
		}
		if a.offer(pfd, dir, base, rel, hdr, content, known) {
			return known, true, nil
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", false, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	switch {
	case content != nil:
		_, err = f.Write(content)
	case a.hasher != nil:
		_, err = a.hasher.copy(f, tr)
	default:
		if a.buf == nil {
			a.buf = make([]byte, copyBufSize)
		}
		_, err = io.CopyBuffer(onlyWriter{f}, tr, a.buf)
	}
	if err != nil {
		return "", false, fmt.Errorf("write content: %w", err)
	}
	return known, false, nil
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (a *applier) hardlink(pfd int, base string, hdr *tar.Header) error {
	target, ok := cleanName(hdr.Linkname)
	if !ok || target == "." {
		return invalid("hardlink target %q escapes the root", hdr.Linkname)
	}
	tdir, tbase := path.Split(target)
	tdir = path.Clean("/" + tdir)[1:]
	if tdir == "" {
		tdir = "."
	}
	tfd, err := openDir(a.rootfd, tdir, false)
	if err != nil {
		if a.upper && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
			return needsLower("hardlink target %s is not in the layer", target)
		}
		return resolveErr(tdir, err)
	}
	defer unix.Close(tfd)
	if a.upper {
		var st unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || isOverlayWhiteout(&st) {
			return needsLower("hardlink target %s is not in the layer", target)
		}
	}
	if a.opts.BeforeLink != nil && a.hasher != nil {
		a.settle()
		if err := a.opts.BeforeLink(target); err != nil {
			return fmt.Errorf("hardlink to %s: %w", target, err)
		}
	}
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hardlink to %s: %w", target, err)
	}
	return nil
}

// whiteout applies ".wh.NAME" or the opaque marker in dir.
func (a *applier) whiteout(rel, dir, base string) error {
	if base == opaqueMarker {
		return a.opaque(dir)
	}
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
		return nil // aufs metadata (.wh..wh.plnk and such): nothing to do
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return invalid("whiteout of %q", name)
	}
	pfd, err := openDir(a.rootfd, dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing there to hide
	}
	if err != nil {
		return resolveErr(dir, err)
	}
	defer unix.Close(pfd)
	return a.remove(pfd, name)
}

// remove removes name in dirfd (everything under it, for a directory),
// once the hasher's callbacks for the files written so far are done: one
// of them may be working on a file there.
func (a *applier) remove(dirfd int, name string) error {
	a.settle()
	return removeAllAt(dirfd, name)
}

// settle waits until FileDigest has been called for every file written so
// far (ApplyOptions.FileDigest: what Apply does before it changes anything
// already in the tree).
func (a *applier) settle() {
	if a.hasher != nil {
		a.hasher.flush()
	}
}

// opaque removes every entry under dir that this layer did not write.
func (a *applier) opaque(dir string) error {
	fd, err := openBeneath(a.rootfd, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return resolveErr(dir, err)
	}
	if dir != "." {
		a.touch(dir)
	}
	return a.removeUntouched(fd, dir)
}

// removeUntouched removes the entries of the directory fd (at rel) that this
// layer did not write, descending into those it did. It closes fd.
func (a *applier) removeUntouched(fd int, rel string) error {
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		child := path.Join(rel, n)
		if !a.touched[child] {
			if err := a.remove(fd, n); err != nil {
				return err
			}
			continue
		}
		cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return err
		}
		if err := a.removeUntouched(cfd, child); err != nil {
			return err
		}
	}
	return nil
}

// metadata sets owner, mode, xattrs and times of base in pfd. Directory
// times are only queued: creating children would change them.
func (a *applier) metadata(hdr *tar.Header, pfd int, base, rel string) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if !a.opts.NoSameOwner {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	// After chown, which clears setuid and setgid.
	if !isLink {
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	// xattrs need a path; go through the parent's fd so the parent is the
	// one already resolved beneath root, and lsetxattr does not follow base.
	procPath := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
	if base == "." {
		procPath = "/proc/self/fd/" + strconv.Itoa(pfd)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok {
			continue
		}
		if a.upper && isOverlayXattr(name) {
			// In an upper dir it would steer overlayfs (opaque, redirect,
			// metacopy); through a mount the kernel decides.
			return needsLower("xattr %s", name)
		}
		if hdr.Typeflag == tar.TypeDir {
			delete(a.reuse.aclDirs, rel) // a default ACL may be set now
		}
		if err := unix.Lsetxattr(procPath, name, []byte(v), 0); err != nil {
			if a.opts.NoSameOwner && (errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM)) {
				continue
			}
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		a.dirTimes = append(a.dirTimes, dirTime{rel: rel, atime: atime, mtime: hdr.ModTime})
		return nil
	}
	return setTimes(pfd, base, atime, hdr.ModTime)
}

func setTimes(pfd int, base string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (a *applier) setDirTime(dt dirTime) error {
	if dt.rel == "." {
		return setTimes(a.rootfd, ".", dt.atime, dt.mtime)
	}
	dir, base := path.Split(dt.rel)
	dir = path.Clean("/" + dir)[1:]
	if dir == "" {
		dir = "."
	}
	pfd, err := openDir(a.rootfd, dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // removed or replaced later in the layer
	}
	if err != nil {
		return resolveErr(dir, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	return setTimes(pfd, base, dt.atime, dt.mtime)
}
