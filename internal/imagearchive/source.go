package imagearchive

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
	"strconv"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/proc"
)

// files is what reading an archive needs of where it lives: a tar file
// (indexed once, then read at offsets) or a directory (an OCI layout).
type files interface {
	// Open returns the file called name (a clean relative path, already
	// checked by cleanName) and its size; a missing file wraps
	// errdefs.ErrNotFound.
	Open(name string) (io.ReadCloser, int64, error)
	// Has reports whether name exists as a regular file.
	Has(name string) bool
	// Size returns the size of the file called name, -1 if it is not
	// known yet (a stream not read that far), or an error wrapping
	// errdefs.ErrNotFound.
	Size(name string) (int64, error)
	Close() error
}

// cleanName turns an archive path into a clean relative path, refusing
// absolute ones and any that climb out with "..".
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	if n == "" || n == "." {
		return ".", nil
	}
	if path.IsAbs(n) {
		return "", fmt.Errorf("archive path %q is absolute: refused: %w", name, errdefs.ErrInvalidArgument)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("archive path %q climbs out of the archive: refused: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	if strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("archive path %q holds a NUL byte: refused: %w", name, errdefs.ErrInvalidArgument)
	}
	return path.Clean(n), nil
}

// tarFiles is a tar file indexed by name: each regular file's data is read
// in place at its offset, so a layer tar inside the archive is read once.
type tarFiles struct {
	f       *os.File
	spooled string // a temp file to remove on Close, if the input was spooled
	regs    map[string]tarEntry
	links   map[string]string // symlink name -> clean target (relative to the archive root)
	dirs    map[string]bool
}

type tarEntry struct {
	off, size int64
}

// indexTar reads every header of the tar file f, seeking past the data.
// Every entry's name is checked; links may only point at other entries.
func indexTar(ctx context.Context, f *os.File) (*tarFiles, error) {
	t := &tarFiles{f: f, regs: map[string]tarEntry{}, links: map[string]string{}, dirs: map[string]bool{}}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	tr := tar.NewReader(f)
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return nil, fmt.Errorf("not a tar archive (%v): %w", err, errdefs.ErrInvalidArgument)
			}
			return nil, fmt.Errorf("the archive is truncated or corrupt after %d entries: %w: %w", n, errdefs.ErrDataCorrupt, err)
		}
		n++
		name, err := cleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			t.regs[name] = tarEntry{off: off, size: hdr.Size}
			delete(t.links, name)
		case tar.TypeDir:
			t.dirs[name] = true
		case tar.TypeSymlink, tar.TypeLink:
			clean, err := linkTarget(hdr, name)
			if err != nil {
				return nil, err
			}
			if hdr.Typeflag == tar.TypeLink {
				e, ok := t.regs[clean]
				if !ok {
					return nil, fmt.Errorf("archive entry %q is a hard link to %q, which is not an earlier file: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
				}
				t.regs[name] = e
				continue
			}
			t.links[name] = clean
			delete(t.regs, name)
		case tar.TypeXGlobalHeader:
		default:
			return nil, fmt.Errorf("archive entry %q has type %q, which an image archive never holds: refused: %w", hdr.Name, hdr.Typeflag, errdefs.ErrInvalidArgument)
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("empty, or not a tar archive: %w", errdefs.ErrInvalidArgument)
	}
	// The tar reader stops at the end-of-archive marker; a stream cut inside
	// the last entry's data shows up here as a short file.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	for name, e := range t.regs {
		if e.off+e.size > fi.Size() {
			return nil, fmt.Errorf("archive entry %q is cut short (the archive is truncated): %w", name, errdefs.ErrDataCorrupt)
		}
	}
	return t, nil
}

// linkTarget is the clean archive path a link entry points at; links
// may only point at other entries of the archive.
func linkTarget(hdr *tar.Header, name string) (string, error) {
	target := hdr.Linkname
	if hdr.Typeflag == tar.TypeSymlink {
		if path.IsAbs(target) {
			return "", fmt.Errorf("archive entry %q is a symlink to the absolute path %q: refused: %w", hdr.Name, target, errdefs.ErrInvalidArgument)
		}
		target = path.Join(path.Dir(name), target)
	}
	clean, err := cleanName(target)
	if err != nil || clean == "." {
		return "", fmt.Errorf("archive entry %q links to %q, outside the archive: refused: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}

// resolve follows symlinks inside the archive (docker's old format links
// duplicate layers to one copy), in any component, at most 16 times.
func (t *tarFiles) resolve(name string) (string, error) { return resolveLinks(t.links, name) }

func resolveLinks(links map[string]string, name string) (string, error) {
	for hops := 0; hops < 16; hops++ {
		parts := strings.Split(name, "/")
		changed := false
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			if target, ok := links[prefix]; ok {
				name = path.Join(append([]string{target}, parts[i:]...)...)
				clean, err := cleanName(name)
				if err != nil {
					return "", err
				}
				name, changed = clean, true
				break
			}
		}
		if !changed {
			return name, nil
		}
	}
	return "", fmt.Errorf("archive path %q: too many levels of symbolic links: %w", name, errdefs.ErrInvalidArgument)
}

func (t *tarFiles) Has(name string) bool {
	r, err := t.resolve(name)
	if err != nil {
		return false
	}
	_, ok := t.regs[r]
	return ok
}

func (t *tarFiles) Size(name string) (int64, error) {
	r, err := t.resolve(name)
	if err != nil {
		return 0, err
	}
	e, ok := t.regs[r]
	if !ok {
		return 0, fmt.Errorf("%s is missing from the archive: %w", name, errdefs.ErrNotFound)
	}
	return e.size, nil
}

func (t *tarFiles) Open(name string) (io.ReadCloser, int64, error) {
	r, err := t.resolve(name)
	if err != nil {
		return nil, 0, err
	}
	e, ok := t.regs[r]
	if !ok {
		return nil, 0, fmt.Errorf("%s is missing from the archive: %w", name, errdefs.ErrNotFound)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.off, e.size)), e.size, nil
}

func (t *tarFiles) Close() error {
	err := t.f.Close()
	if t.spooled != "" {
		os.Remove(t.spooled)
	}
	return err
}

// dirFiles is an OCI layout directory, opened through an os.Root so that no
// symlink inside it reaches outside.
type dirFiles struct {
	root *os.Root
}

func (d *dirFiles) Has(name string) bool {
	fi, err := d.root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func (d *dirFiles) Size(name string) (int64, error) {
	rc, size, err := d.Open(name)
	if err != nil {
		return 0, err
	}
	rc.Close()
	return size, nil
}

func (d *dirFiles) Open(name string) (io.ReadCloser, int64, error) {
	f, err := d.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("%s is missing from the layout: %w", name, errdefs.ErrNotFound)
		}
		return nil, 0, fmt.Errorf("open %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file: %w", name, errdefs.ErrInvalidArgument)
	}
	return f, fi.Size(), nil
}

func (d *dirFiles) Close() error { return d.root.Close() }

// openFiles opens what Load reads: a directory (an OCI layout), a plain tar
// file (indexed in place), or anything else — a compressed tar, a pipe,
// standard input — as a stream (see streamFiles), spooled to a temp file
// in spoolDir only when it is not in Write's order.
func openFiles(ctx context.Context, input string, stdin io.Reader, spoolDir string) (files, error) {
	if input != "" && input != "-" {
		fi, err := os.Stat(input)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", input, err)
		}
		if fi.IsDir() {
			root, err := os.OpenRoot(input)
			if err != nil {
				return nil, fmt.Errorf("open %s: %w", input, err)
			}
			return &dirFiles{root: root}, nil
		}
		f, err := os.Open(input)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", input, err)
		}
		if fi.Mode().IsRegular() {
			var magic [4]byte
			n, _ := io.ReadFull(f, magic[:])
			if !compressed(magic[:n]) {
				t, err := indexTar(ctx, f)
				if err != nil {
					f.Close()
					return nil, err
				}
				return t, nil
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return nil, err
			}
		}
		st, err := openStream(ctx, f, input, spoolDir)
		if err != nil {
			f.Close()
			return nil, err
		}
		st.src = closeBoth{st.src, f}
		return st, nil
	}
	if stdin == nil {
		return nil, fmt.Errorf("load from standard input: no input: %w", errdefs.ErrInvalidArgument)
	}
	return openStream(ctx, stdin, "standard input", spoolDir)
}

type closeBoth struct {
	io.ReadCloser
	f *os.File
}

func (c closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.f.Close()
	return err
}

func compressed(magic []byte) bool {
	return len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b ||
		len(magic) >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd
}

// spoolPrefix starts the names of spooled archives; the writer's pid
// follows, so that a later load can remove what a killed one left.
const spoolPrefix = "load-"

// removeDeadSpools removes archives spooled by loads whose process died.
func removeDeadSpools(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		rest, ok := strings.CutPrefix(ent.Name(), spoolPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && !proc.Alive(pid) {
			os.Remove(filepath.Join(dir, ent.Name()))
		}
	}
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
