package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// resolveIn joins p onto root, resolving symlinks as if root were "/", so
// the result never leaves root. The last element is followed only with
// followLast. Missing elements are joined literally.
func resolveIn(root, p string, followLast bool) (string, error) {
	parts := splitPath(p)
	cur := ""
	links := 0
	for len(parts) > 0 {
		c := parts[0]
		parts = parts[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			if cur == "." || cur == "/" {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
				cur = path.Join(append([]string{next}, parts...)...)
				break
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 && (len(parts) > 0 || followLast) {
			links++
			if links > 40 {
				return "", fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			target, err := os.Readlink(filepath.Join(root, next))
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			parts = append(splitPath(target), parts...)
			continue
		}
		cur = next
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}

func splitPath(p string) []string { return strings.Split(filepath.ToSlash(p), "/") }

// srcItem is one COPY source after globbing: a file, directory or link
// (already resolved inside its root).
type srcItem struct {
	root string // the tree it comes from (context or a stage's rootfs)
	full string // its path on the host
	rel  string // its path under root, for messages and hashes
	name string // base name used when copied into a directory
	ign  *Ignore
	url  bool // downloaded by ADD: full is a temp file
	tar  bool // ADD unpacks it
}

// sourceTree is where COPY reads from.
type sourceTree struct {
	root   string
	desc   string // "the build context /src" or "stage build"
	ignore *Ignore
	stat   *cache.StatCache // nil: hash by reading
}

// match finds the sources named by pattern in t.
func (t *sourceTree) match(ctx context.Context, pattern string) ([]srcItem, error) {
	p := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(pattern)), "/")
	if p == "" {
		p = "."
	}
	if !hasGlob(p) {
		full, err := resolveIn(t.root, p, true)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(full); err != nil {
			return nil, fmt.Errorf("%q not found in %s: %w", pattern, t.desc, errdefs.ErrNotFound)
		}
		rel, _ := filepath.Rel(t.root, full)
		rel = filepath.ToSlash(rel)
		if rel != "." && t.ignore.Excluded(rel) {
			return nil, fmt.Errorf("%q is excluded by .dockerignore in %s: %w", pattern, t.desc, errdefs.ErrNotFound)
		}
		return []srcItem{{root: t.root, full: full, rel: rel, name: path.Base(p), ign: t.ignore}}, nil
	}
	var out []srcItem
	err := filepath.WalkDir(t.root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if full == t.root {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(full, t.root+string(filepath.Separator)))
		if t.ignore.Excluded(rel) {
			if d.IsDir() && !t.ignore.mayHaveExceptions() {
				return filepath.SkipDir
			}
			return nil
		}
		if globMatch(p, rel) {
			out = append(out, srcItem{root: t.root, full: full, rel: rel, name: path.Base(rel), ign: t.ignore})
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no source files were specified: %q matches nothing in %s: %w", pattern, t.desc, errdefs.ErrNotFound)
	}
	return out, nil
}

// walkItem calls fn for it and, for a directory, everything under it that
// .dockerignore keeps, in sorted order; sub is the path below the item.
func walkItem(ctx context.Context, it srcItem, fn func(full, sub string, st *unix.Stat_t) error) error {
	var st unix.Stat_t
	if err := unix.Lstat(it.full, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: it.full, Err: err}
	}
	if err := fn(it.full, "", &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	return filepath.WalkDir(it.full, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if full == it.full {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sub := filepath.ToSlash(strings.TrimPrefix(full, it.full+string(filepath.Separator)))
		if it.ign != nil {
			crel := path.Join(it.rel, sub)
			if it.rel == "." {
				crel = sub
			}
			if it.ign.Excluded(crel) {
				if d.IsDir() && !it.ign.mayHaveExceptions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: full, Err: err}
		}
		return fn(full, sub, &st)
	})
}

// copyOpts are a COPY's effects on what it writes.
type copyOpts struct {
	uid, gid int
	chown    bool
	chmod    *os.FileMode
	exclude  []*Ignore
	// reuse, if set, may have regular files from the context written as
	// placeholders (their metadata without their data) to be linked from
	// the previous build (see reuse.go).
	reuse       *reuse
	placeholder bool // copyEntry: write this file as a placeholder
	// mtime, if set, is the mtime each copy gets instead of its source's
	// (a linked COPY's: the one its layer's tar records).
	mtime func(unix.Timespec) unix.Timespec
}

// parseChmod reads --chmod's octal mode.
func parseChmod(s string) (*os.FileMode, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return nil, fmt.Errorf("--chmod=%s: want an octal mode such as 755", s)
	}
	m := os.FileMode(v)
	return &m, nil
}

// parseChown resolves --chown against the rootfs being written; a user
// without a group uses the same number as the group, as docker does.
func parseChown(rootfs, s string) (int, int, error) {
	user, group, hasGroup := strings.Cut(s, ":")
	u, err := runtime.ResolveUser(rootfs, user)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", s, err)
	}
	uid, gid := int(u.UID), int(u.UID)
	if hasGroup {
		g, err := runtime.ResolveUser(rootfs, "0:"+group)
		if err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: %w", s, err)
		}
		gid = int(g.GID)
	}
	return uid, gid, nil
}

// copyItems copies the sources into rootfs at dest (absolute in the
// rootfs). destDir says dest names a directory the sources go into.
func copyItems(ctx context.Context, rootfs string, items []srcItem, dest string, destDir bool, o copyOpts) error {
	if len(items) > 1 && !destDir {
		return fmt.Errorf("when copying more than one source the destination must be a directory and end with a /")
	}
	for _, it := range items {
		var st unix.Stat_t
		if err := unix.Lstat(it.full, &st); err != nil {
			return err
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		target := dest
		if it.tar {
			dir, err := mkdirs(rootfs, dest, o)
			if err != nil {
				return err
			}
			if err := untar(ctx, it.full, dir); err != nil {
				return fmt.Errorf("unpack %s: %w", it.rel, err)
			}
			continue
		}
		if !isDir {
			if destDir {
				target = path.Join(dest, it.name)
			} else if full, err := resolveIn(rootfs, dest, true); err == nil {
				if fi, err := os.Stat(full); err == nil && fi.IsDir() {
					target = path.Join(dest, it.name)
				}
			}
		}
		if _, err := mkdirs(rootfs, path.Dir(target), o); err != nil {
			return err
		}
		var dirs []dirTime
		// Parents are resolved once per directory; regular files are
		// copied by a few workers (the walk makes each directory before
		// handing out its files).
		parents := map[string]string{}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		err := walkItem(gctx, it, func(full, sub string, st *unix.Stat_t) error {
			if o.mtime != nil {
				c := *st
				c.Mtim = o.mtime(c.Mtim)
				st = &c
			}
			if sub == "" && isDir {
				d, err := mkdirs(rootfs, target, o)
				if err != nil {
					return err
				}
				dirs = append(dirs, dirTime{d, st.Mtim})
				if o.reuse != nil {
					o.reuse.dir(relTo(rootfs, d), st.Mtim)
				}
				return nil
			}
			for _, ex := range o.exclude {
				if ex.Excluded(path.Join(it.name, sub)) || (sub != "" && ex.Excluded(sub)) {
					if st.Mode&unix.S_IFMT == unix.S_IFDIR {
						return filepath.SkipDir
					}
					return nil
				}
			}
			rel := path.Join(target, sub)
			pdir := path.Dir(rel)
			phost, ok := parents[pdir]
			if !ok {
				var err error
				if phost, err = resolveIn(rootfs, pdir, true); err != nil {
					return err
				}
				parents[pdir] = phost
			}
			dst := filepath.Join(phost, path.Base(rel))
			if st.Mode&unix.S_IFMT == unix.S_IFREG {
				st := *st
				eo := o
				if o.reuse != nil {
					if it.root != o.reuse.ctxRoot {
						o.reuse.unplan(relTo(rootfs, dst))
					} else {
						mode, uid, gid := entryAttrs(&st, o)
						switch o.reuse.plan(path.Join(it.rel, sub), full, relTo(rootfs, dst), &st, unixMode(mode), uid, gid) {
						case reuseLater:
							return nil // finish links it (or writes it) straight into the upper dir
						case reusePlaceholder:
							eo.placeholder = true
						}
					}
				}
				g.Go(func() error {
					_, err := copyEntry(full, dst, &st, eo)
					return err
				})
				return nil
			}
			if o.reuse != nil {
				o.reuse.unplan(relTo(rootfs, dst))
			}
			d, err := copyEntry(full, dst, st, o)
			if d {
				dirs = append(dirs, dirTime{dst, st.Mtim})
				if o.reuse != nil {
					o.reuse.dir(relTo(rootfs, dst), st.Mtim)
				}
			}
			return err
		})
		if werr := g.Wait(); err == nil {
			err = werr
		}
		if err != nil {
			return err
		}
		for _, d := range slices.Backward(dirs) {
			ts := []unix.Timespec{d.mtime, d.mtime}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, d.path, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	return nil
}

// entryAttrs are the mode and owner COPY gives the copy of an entry.
func entryAttrs(st *unix.Stat_t, o copyOpts) (os.FileMode, int, int) {
	mode := os.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	if o.chmod != nil {
		mode = *o.chmod
	}
	uid, gid := 0, 0
	if o.chown {
		uid, gid = o.uid, o.gid
	}
	return mode, uid, gid
}

// unixMode is the st_mode permission bits os.Chmod sets for m.
func unixMode(m os.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		b |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		b |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		b |= unix.S_ISVTX
	}
	return b
}

// relTo returns p (a host path under rootfs) relative to rootfs, slash-separated.
func relTo(rootfs, p string) string {
	rel, err := filepath.Rel(rootfs, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}

type dirTime struct {
	path  string
	mtime unix.Timespec
}

// mkdirs makes dir (absolute in rootfs) and its missing parents, owned by
// the --chown user as docker does, and returns its host path.
func mkdirs(rootfs, dir string, o copyOpts) (string, error) {
	full, err := resolveIn(rootfs, dir, true)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(full); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s exists and is not a directory", dir)
		}
		return full, nil
	}
	if parent := path.Dir(dir); parent != dir {
		if _, err := mkdirs(rootfs, parent, o); err != nil {
			return "", err
		}
	}
	full, err = resolveIn(rootfs, dir, true)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(full, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if o.chown {
		if err := os.Lchown(full, o.uid, o.gid); err != nil {
			return "", err
		}
	}
	return full, nil
}

// copyEntry writes one entry at dst; it says whether dst is a directory
// whose mtime is set once its contents are written.
func copyEntry(src, dst string, st *unix.Stat_t, o copyOpts) (bool, error) {
	mode, uid, gid := entryAttrs(st, o)
	typ := st.Mode & unix.S_IFMT
	if old, err := os.Lstat(dst); err == nil {
		if !(typ == unix.S_IFDIR && old.IsDir()) {
			if err := os.RemoveAll(dst); err != nil {
				return false, err
			}
		}
	}
	switch typ {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, err
		}
		if err := os.Lchown(dst, uid, gid); err != nil {
			return true, err
		}
		return true, os.Chmod(dst, mode)
	case unix.S_IFREG:
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return false, err
		}
		if !o.placeholder {
			in, err := os.Open(src)
			if err != nil {
				out.Close()
				return false, err
			}
			_, err = io.Copy(out, in)
			in.Close()
			if err != nil {
				out.Close()
				return false, fmt.Errorf("copy %s: %w", src, err)
			}
		}
		if err := out.Chown(uid, gid); err != nil {
			out.Close()
			return false, err
		}
		if err := out.Chmod(mode); err != nil {
			out.Close()
			return false, err
		}
		if err := out.Close(); err != nil {
			return false, err
		}
	case unix.S_IFLNK:
		t, err := os.Readlink(src)
		if err != nil {
			return false, err
		}
		if err := os.Symlink(t, dst); err != nil {
			return false, err
		}
		if err := os.Lchown(dst, uid, gid); err != nil {
			return false, err
		}
	case unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return false, err
		}
		if err := os.Lchown(dst, uid, gid); err != nil {
			return false, err
		}
	default:
		return false, nil // sockets are not copied
	}
	ts := []unix.Timespec{st.Mtim, st.Mtim}
	return false, unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// isTar says whether the file is a tar archive, compressed or not, that
// ADD unpacks.
func isTar(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	rc, _, err := archive.Decompress(f)
	if err != nil {
		return false
	}
	defer rc.Close()
	_, err = tar.NewReader(rc).Next()
	return err == nil
}

func untar(ctx context.Context, src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, _, err := archive.Decompress(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = archive.Apply(ctx, dir, rc, archive.ApplyOptions{})
	return err
}

// download fetches an ADD URL into dir, returning the file and the name
// it gets when copied into a directory.
func download(ctx context.Context, url, dir string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: cannot be reached: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("ADD %s: server answered %s", url, resp.Status)
	}
	name := path.Base(req.URL.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	p := filepath.Join(dir, "download")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", "", fmt.Errorf("ADD %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		_ = os.Chtimes(p, lm, lm)
	}
	return p, name, nil
}

func symlinkAt(root, target, name string) error {
	return os.Symlink(target, filepath.Join(root, name))
}
