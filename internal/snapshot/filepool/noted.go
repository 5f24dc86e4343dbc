package filepool

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// The pass over a layer just unpacked. The unpacker noted every regular
// file it wrote (Hashes), so the pass needs no walk of the tree and, for a
// file unchanged since it was noted, no open, read or close: per file a
// stat, the xattr list (by path) and the link into the pool. That is what
// dedupe adds to the commit of a pulled or loaded layer (issue #16: pull
// and load with dedupe on at most 1.10x of off).

// byDir groups the noted paths not pooled yet by their directory (relative to the
// snapshot's root, "." for the root), each group's names sorted.
func (h *Hashes) byDir() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for rel, n := range h.m {
		if n.key != "" {
			continue // by Live, as it was written
		}
		dir, name := path.Split(rel)
		dir = path.Clean(dir)
		out[dir] = append(out[dir], name)
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}

// dedupeNoted is Dedupe over the files ps.known noted.
func (p *Pool) dedupeNoted(ctx context.Context, ps *pass) (Stats, error) {
	var (
		mu    sync.Mutex
		total Stats
	)
	rootfd, err := unix.Open(ps.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return total, fmt.Errorf("dedupe %s: %w", ps.root, err)
	}
	defer unix.Close(rootfd)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(min(runtime.GOMAXPROCS(0), 4))
	for dir, names := range ps.known.byDir() {
		g.Go(func() error {
			s, err := p.dedupeNotedDir(gctx, rootfd, dir, names, ps)
			mu.Lock()
			total.add(s)
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("dedupe %s: %w", filepath.Join(ps.root, dir), err)
			}
			return nil
		})
	}
	err = g.Wait()
	return total, err
}

// dedupeNotedDir pools the noted files names of the directory relDir
// (under rootfd, the tree's root), putting its times back if it replaced
// any. A directory or file the layer removed after noting it is skipped,
// and so is a directory the layer replaced by a symlink: relDir is opened
// beneath the root without following any.
func (p *Pool) dedupeNotedDir(ctx context.Context, rootfd int, relDir string, names []string, ps *pass) (s Stats, err error) {
	dir := filepath.Join(ps.root, relDir)
	dirfd, err := openTreeDir(rootfd, relDir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer unix.Close(dirfd)
	w := &dirWork{j: &journal{pool: p, dir: dir, dirfd: dirfd}}
	if err := unix.Fstat(dirfd, &w.j.st); err != nil {
		return s, err
	}
	defer func() {
		if werr := w.end(); werr != nil && err == nil {
			err = werr
		}
	}()
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		rel := path.Join(relDir, name)
		// The xattrs first, then the stat: a change to them in between
		// moves the ctime, and the noted digest is then not used.
		// Relative to the open directory, which is the one opened beneath
		// the root whatever the tree's path holds now.
		xattrs, err := xattrsAt(dirfd, name)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return s, fmt.Errorf("%s: %w", name, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		s.Files++
		if st.Nlink != 1 || st.Size < p.minSize() || !poolable(xattrs) {
			continue
		}
		var k string
		if dgst, ok := ps.known.digest(rel, &st); ok {
			k = key(dgst, &st, xattrs)
		} else {
			// Changed since it was noted: read it as any other file.
			if k, ok, err = p.readKey(dirfd, name, rel, &st, ps, w.buffer()); err != nil {
				return s, fmt.Errorf("%s: %w", name, err)
			} else if !ok {
				continue
			}
		}
		pooled, saved, err := p.link(dirfd, name, k, &st, w.j, ps)
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		s.count(pooled, saved)
	}
	return s, nil
}

// openTreeDir opens the directory rel of the tree whose root is rootfd,
// beneath the root and without following any symlink: a layer may have
// replaced a directory noted by a symlink leading anywhere.
func openTreeDir(rootfd int, rel string) (int, error) {
	return unix.Openat2(rootfd, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}
