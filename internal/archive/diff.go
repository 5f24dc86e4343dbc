package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Change describes one path changed by a layer, like a `docker diff` row.
type Change struct {
	Kind byte   // 'A' added, 'C' changed, 'D' deleted
	Path string // absolute-style: "/etc/passwd"
}

func (c Change) String() string { return string(c.Kind) + " " + c.Path }

// WriteDiff writes the layer that turns lower (a parent rootfs) into upper (a
// modified copy of it): added and modified entries, each preceded by any of
// its parent directories not already written, and a ".wh.NAME" whiteout for
// each removed entry (one for a removed directory, none for its children).
//
// An entry is modified when its type, mode, owner, size, mtime, link target,
// device number or xattrs differ. Content is compared only when all of those
// match, the file is not the same inode in both trees, and its mtime has no
// sub-second part (so a same-size rewrite within the same second on a
// filesystem with coarse timestamps is still caught).
func WriteDiff(ctx context.Context, w io.Writer, lower, upper string, opts WriteOptions) error {
	tw := newTarWriter(w, opts, skipOverlayXattr)
	written := map[string]bool{"": true}
	parents := func(rel string) error {
		var todo []string
		for d := path.Dir(rel); d != "." && !written[d]; d = path.Dir(d) {
			todo = append(todo, d)
		}
		for _, d := range slices.Backward(todo) {
			if err := tw.writePath(filepath.Join(upper, d), d); err != nil {
				return err
			}
			written[d] = true
		}
		return nil
	}
	err := diffWalk(ctx, lower, upper, func(kind byte, rel string) error {
		if err := parents(rel); err != nil {
			return err
		}
		if kind == 'D' {
			return tw.whiteout(rel, whiteoutTime)
		}
		written[rel] = true
		return tw.writePath(filepath.Join(upper, rel), rel)
	})
	if err != nil {
		return fmt.Errorf("write diff of %s against %s: %w", upper, lower, err)
	}
	return tw.Close()
}

// Changes lists what changed from lower to upper, in the order WriteDiff
// would write it, by the same rules.
func Changes(ctx context.Context, lower, upper string) ([]Change, error) {
	var out []Change
	err := diffWalk(ctx, lower, upper, func(kind byte, rel string) error {
		out = append(out, Change{Kind: kind, Path: "/" + rel})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes from %s to %s: %w", lower, upper, err)
	}
	return out, nil
}

// diffWalk walks upper and calls fn with 'A', 'C' or 'D' and the relative
// path of every change. Deletions in a directory come right after that
// directory's own change (if any). Once a directory is new (added, or a
// non-directory in lower) nothing under it is looked up in lower, so a
// symlink in lower is never followed.
func diffWalk(ctx context.Context, lower, upper string, fn func(kind byte, rel string) error) error {
	if err := deletions(lower, upper, "", fn); err != nil {
		return err
	}
	added := "" // a directory under which every entry is new
	return walk(ctx, upper, func(full, rel string, d fs.DirEntry) error {
		if added != "" && strings.HasPrefix(rel, added+"/") {
			return fn('A', rel)
		}
		added = ""
		var ust, lst unix.Stat_t
		if err := unix.Lstat(full, &ust); err != nil {
			return &fs.PathError{Op: "lstat", Path: full, Err: err}
		}
		lfull := filepath.Join(lower, rel)
		err := unix.Lstat(lfull, &lst)
		isDir := ust.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
			if isDir {
				added = rel
			}
			return fn('A', rel)
		case err != nil:
			return &fs.PathError{Op: "lstat", Path: lfull, Err: err}
		}
		if isDir && lst.Mode&unix.S_IFMT != unix.S_IFDIR {
			added = rel
			return fn('C', rel)
		}
		changed, err := differs(lfull, full, &lst, &ust)
		if err != nil {
			return err
		}
		if changed {
			if err := fn('C', rel); err != nil {
				return err
			}
		}
		if isDir {
			return deletions(lower, upper, rel, fn)
		}
		return nil
	})
}

// deletions reports the entries of lower/rel that upper/rel lacks; both are
// directories.
func deletions(lower, upper, rel string, fn func(kind byte, rel string) error) error {
	lnames, err := readNames(filepath.Join(lower, rel))
	if err != nil {
		return err
	}
	unames, err := readNames(filepath.Join(upper, rel))
	if err != nil {
		return err
	}
	for _, n := range lnames {
		if _, ok := slices.BinarySearch(unames, n); !ok {
			if err := fn('D', path.Join(rel, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// differs reports whether lower and upper (same relative path) differ.
func differs(lfull, ufull string, l, u *unix.Stat_t) (bool, error) {
	if l.Mode != u.Mode || l.Uid != u.Uid || l.Gid != u.Gid || l.Mtim != u.Mtim {
		return true, nil
	}
	switch u.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if l.Size != u.Size {
			return true, nil
		}
	case unix.S_IFLNK:
		lt, err := os.Readlink(lfull)
		if err != nil {
			return false, err
		}
		ut, err := os.Readlink(ufull)
		if err != nil {
			return false, err
		}
		if lt != ut {
			return true, nil
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		if l.Rdev != u.Rdev {
			return true, nil
		}
	}
	lx, err := readXattrs(lfull, skipOverlayXattr)
	if err != nil {
		return false, err
	}
	ux, err := readXattrs(ufull, skipOverlayXattr)
	if err != nil {
		return false, err
	}
	if !maps.Equal(lx, ux) {
		return true, nil
	}
	if u.Mode&unix.S_IFMT != unix.S_IFREG || u.Mtim.Nsec != 0 || (l.Dev == u.Dev && l.Ino == u.Ino) {
		return false, nil
	}
	return contentDiffers(lfull, ufull)
}

func contentDiffers(a, b string) (bool, error) {
	fa, err := os.OpenFile(a, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.OpenFile(b, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return true, nil
		}
		if ea != nil || eb != nil {
			if (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF) {
				return false, nil
			}
			if ea != nil && ea != io.EOF && ea != io.ErrUnexpectedEOF {
				return false, ea
			}
			if eb != nil && eb != io.EOF && eb != io.ErrUnexpectedEOF {
				return false, eb
			}
			return true, nil
		}
	}
}
