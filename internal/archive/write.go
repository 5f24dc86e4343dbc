package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteOptions control how a tree becomes tar headers. The zero value records
// everything as found.
type WriteOptions struct {
	// SourceDateEpoch, if set, clamps every mtime later than it down to it,
	// for reproducible builds (https://reproducible-builds.org/specs/source-date-epoch/).
	SourceDateEpoch *time.Time
	// NormalizeOwner records uid and gid 0 for every entry. Names (uname,
	// gname) are never recorded: they mean nothing inside another rootfs.
	NormalizeOwner bool
	// Shared, if set, tells the inodes whose other links are not hard
	// links of the tree but a store's sharing of identical files (a file
	// pool, see snapshot/filepool): such an inode met again under another
	// path is written as a file of its own, not as a hard link, so a tar of
	// a merged rootfs is what it would be without the sharing. It is
	// asked only when an inode comes back.
	Shared func(ino uint64) bool
	// Index, if set, receives the tar-split index of the stream written (the
	// format ApplyOptions.Index writes, see doc.go), so Rebuild can regenerate
	// the same tar from a tree that holds each regular file at its entry's
	// name: the tree written for WriteDir, the merged rootfs for the diffs.
	Index io.Writer
}

// WriteDir writes to w a tar of every entry under root (root itself is not an
// entry). Names are relative, directories end in "/", and the order is a
// depth-first walk with each directory's names sorted, so the same tree and
// options always give the same bytes. It records regular files, directories,
// symlinks, hardlinks (the second path of an inode becomes a TypeLink to the
// first), char and block devices, fifos, mode bits including setuid, setgid
// and sticky, uid/gid, mtime (whole seconds) and xattrs as PAX
// "SCHILY.xattr." records, except trusted.overlay.*. Sockets are skipped.
func WriteDir(ctx context.Context, w io.Writer, root string, opts WriteOptions) error {
	tw := newTarWriter(w, opts, skipOverlayXattr)
	err := walk(ctx, root, func(full, rel string, d fs.DirEntry) error {
		return tw.writePath(full, rel)
	})
	if err != nil {
		return fmt.Errorf("write tar of %s: %w", root, err)
	}
	return tw.Close()
}

// WritePath writes src (a file, or a directory and everything under it) as
// a tar whose top entry is name, as `cp` into or out of a container needs.
// Entries are recorded as WriteDir records them.
func WritePath(ctx context.Context, w io.Writer, src, name string, opts WriteOptions) error {
	tw := newTarWriter(w, opts, skipOverlayXattr)
	name = path.Clean(name)
	if err := tw.writePath(src, name); err != nil {
		return fmt.Errorf("write tar of %s: %w", src, err)
	}
	err := walk(ctx, src, func(full, rel string, d fs.DirEntry) error {
		return tw.writePath(full, path.Join(name, rel))
	})
	if err != nil {
		return fmt.Errorf("write tar of %s: %w", src, err)
	}
	return tw.Close()
}

func skipOverlayXattr(name string) bool { return strings.HasPrefix(name, "trusted.overlay.") }

// walk calls fn for every entry under root in depth-first, sorted order with
// a slash-separated path relative to root, checking ctx before each.
func walk(ctx context.Context, root string, fn func(full, rel string, d fs.DirEntry) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		return fn(p, rel, d)
	})
}

type inodeKey struct{ dev, ino uint64 }

// tarWriter turns paths into tar entries, remembering inodes for hardlinks.
type tarWriter struct {
	tw        *tar.Writer
	rec       *indexingWriter // nil without WriteOptions.Index
	opts      WriteOptions
	skipXattr func(string) bool
	inodes    map[inodeKey]string
	buf       []byte // file payloads are copied through it
}

func newTarWriter(w io.Writer, opts WriteOptions, skipXattr func(string) bool) *tarWriter {
	t := &tarWriter{opts: opts, skipXattr: skipXattr, inodes: map[inodeKey]string{}}
	if opts.Index != nil {
		t.rec = &indexingWriter{w: w, idx: newIndexWriter(opts.Index)}
		w = t.rec
	}
	t.tw = tar.NewWriter(w)
	return t
}

func (t *tarWriter) Close() error {
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("finish tar: %w", err)
	}
	if t.rec != nil {
		return t.rec.idx.close()
	}
	return nil
}

func (t *tarWriter) mtime(ts unix.Timespec) time.Time {
	return time.Unix(t.opts.TarTime(ts).Sec, 0).UTC()
}

// writePath writes the entry for full, named rel. Sockets are skipped.
func (t *tarWriter) writePath(full, rel string) error {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: full, Err: err}
	}
	hdr, err := t.header(full, rel, &st)
	if err != nil || hdr == nil {
		return err
	}
	return t.writeHeader(full, hdr)
}

func (t *tarWriter) writeHeader(full string, hdr *tar.Header) error {
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if t.rec != nil {
		// tar.Writer passes payload bytes straight through, unbuffered, and
		// writes the padding at the next header: only the payload is a file.
		t.rec.idx.addFile(hdr.Name, hdr.Size)
		t.rec.payload = true
		defer func() { t.rec.payload = false }()
	}
	if t.buf == nil {
		t.buf = make([]byte, 256<<10) // one buffer for every file: fewer reads, no garbage per file
	}
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err == nil && n < hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w (did it change while being archived?)", hdr.Name, err)
	}
	return nil
}

// header builds the tar header for full, or nil for a socket.
func (t *tarWriter) header(full, rel string, st *unix.Stat_t) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: t.mtime(st.Mtim),
		Format:  tar.FormatPAX,
	}
	if t.opts.NormalizeOwner {
		hdr.Uid, hdr.Gid = 0, 0
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := os.Readlink(full)
		if err != nil {
			return nil, err
		}
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return nil, nil
	default:
		return nil, fmt.Errorf("%s: unknown file type %#o", full, st.Mode&unix.S_IFMT)
	}
	if hdr.Typeflag != tar.TypeDir && st.Nlink > 1 {
		key := inodeKey{uint64(st.Dev), st.Ino}
		if first, ok := t.inodes[key]; ok && (t.opts.Shared == nil || !t.opts.Shared(st.Ino)) {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
		} else if !ok {
			t.inodes[key] = rel
		}
	}
	xattrs, err := readXattrs(full, t.skipXattr)
	if err != nil {
		return nil, err
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	return hdr, nil
}

const paxXattr = "SCHILY.xattr."

// readXattrs returns the xattrs of full itself (not a link target).
func readXattrs(full string, skip func(string) bool) (map[string]string, error) {
	names, err := listXattr(full)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, name := range names {
		if skip != nil && skip(name) {
			continue
		}
		v, err := getXattr(full, name)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = string(v)
	}
	return out, nil
}

func listXattr(full string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(full, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "llistxattr", Path: full, Err: err}
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(full, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(full, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// whiteoutHeader is the OCI whiteout entry hiding rel
// (image-spec layer.md#whiteouts): an empty regular file ".wh.<base>".
func (t *tarWriter) whiteout(rel string, mtime time.Time) error {
	dir, base := path.Split(rel)
	return t.emptyFile(dir+whiteoutPrefix+base, mtime)
}

func (t *tarWriter) emptyFile(name string, mtime time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header %s: %w", name, err)
	}
	return nil
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)
