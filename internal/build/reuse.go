package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/snapshot"
)

// A COPY from the context that runs again after a change (edit one file of
// a large context) writes the same bytes as last time for every file that
// did not change. reuse lets it hard-link those files from the layer the
// same step made last time instead of copying them again, so only changed
// files are written.
//
// Why this is safe: the files linked are in a committed overlay snapshot
// (its upper dir), which nothing writes to again. Overlayfs never writes
// to a lower layer: a container changing such a file copies it up into its
// own upper dir first, as a new inode (the snapshotter mounts with
// index=off, so copy-up never links either). The new layer is likewise
// committed right after the step. Only the overlay driver is used: the
// plain-copy snapshotter's trees are mutable copies.
//
// What is linked is exactly what a copy would have written: the step's
// last inputs record says which source (by content hash) went to which
// destination path of which layer; a file is linked only when that source
// and its hash are the same now, and when the previous file's mode, owner,
// mtime and size equal those of the file this run would write. Writing
// through the overlay costs more than the data of a small file, so a
// candidate whose directory this COPY made (or set the mtime of, so it is
// in the upper dir) is not written through the overlay at all: once the
// overlay is unmounted, finish links it straight into the upper dir, or,
// if anything differs, writes it there. A candidate in a directory that
// may be only in a lower layer is written through the overlay without its
// data (a placeholder with its final metadata, which copies the directory
// up), and finish replaces the placeholder. The directories' mtimes, which
// those changes move, are set again. The layer tar is then byte-for-byte
// the one a full copy gives.
type reuse struct {
	prevUpper string                   // upper dir of the layer the step made last time
	prevFiles map[string]digest.Digest // source key → hash line, last time
	prevDests map[string]string        // destination (rootfs-relative) → source key, last time
	files     map[string]digest.Digest // source key → hash line, now
	ctxRoot   string                   // the context directory: only its files are linked

	mu      sync.Mutex
	dests   map[string]string  // this run's destinations → source keys
	written map[string]bool    // destinations written through the overlay by something else
	links   map[string]planned // destination → the file finish puts there
	dirs    []dirTime          // rootfs-relative dirs whose mtime copyItems set
	dirSeen map[string]bool    // the same, as a set
}

// planned is a file finish links from the previous layer or writes.
type planned struct {
	src         string // the source file on the host (written from it on a mismatch)
	size        int64
	linkable    bool // the previous layer had the same source (same content) at this path
	placeholder bool // written through the overlay without data; else not written at all
	// What a copy would have: for a file not written, finish checks the
	// old file against these (for a placeholder, against the placeholder).
	mode     uint32 // permission bits
	uid, gid int
	mtime    unix.Timespec
}

// reuseEnabled is turned off by tests to get a COPY written wholly through
// the overlay, the reference reuse must match.
var reuseEnabled atomic.Bool

func init() { reuseEnabled.Store(true) }

// What plan says to do with a regular file.
type reuseAction int

const (
	reuseNo          reuseAction = iota // copy it as usual
	reusePlaceholder                    // write it through the overlay without its data
	reuseLater                          // do not write it; finish will
)

// newReuse prepares reuse for a COPY step with inputs inp, whose sources
// are in the context ctxRoot. Without a usable previous layer it still
// records this run's destinations, so that the next run can reuse.
func (b *builder) newReuse(ctx context.Context, inp *stepInputs, ctxRoot string) *reuse {
	if b.be.Driver != "overlay" || inp == nil || ctxRoot == "" || !reuseEnabled.Load() {
		return nil
	}
	r := &reuse{files: inp.in.Files, ctxRoot: ctxRoot, dests: map[string]string{}, written: map[string]bool{}, links: map[string]planned{}, dirSeen: map[string]bool{}}
	if b.opts.NoCache {
		return r // --no-cache: nothing from earlier builds
	}
	last, ok, err := b.cache.GetInputs(ctx, inp.id)
	if err != nil || !ok || last.Layer == "" || len(last.Dests) == 0 {
		return r
	}
	if info, err := b.be.Snap.Stat(ctx, last.Layer.String()); err != nil || info.Kind != snapshot.KindCommitted || !openat2Works() {
		return r
	}
	upper, err := b.be.Snap.UpperDir(ctx, last.Layer.String())
	if err != nil {
		return r
	}
	r.prevUpper, r.prevFiles, r.prevDests = upper, last.Files, last.Dests
	return r
}

// plan records that source key k, the regular file src (stat st), goes
// to dest (rootfs-relative) with the given permission bits and owner, and
// says how to write it.
func (r *reuse) plan(k, src, dest string, st *unix.Stat_t, mode uint32, uid, gid int) reuseAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, again := r.dests[dest]
	again = again || r.written[dest]
	r.dests[dest] = k
	delete(r.links, dest) // a later source for the same destination wins
	if again {
		return reuseNo // written twice: the overlay replaces the first
	}
	p := planned{src: src, size: st.Size, mode: mode, uid: uid, gid: gid, mtime: st.Mtim}
	if h, ok := r.files[k]; ok && r.prevUpper != "" && st.Size > 0 && r.prevDests[dest] == k && r.prevFiles[k] == h {
		p.linkable = true
	}
	if r.dirSeen[path.Dir(dest)] {
		// Its directory will be in the upper dir: finish links it there,
		// or copies it (in the kernel, copy_file_range) without the
		// overlay's cost per file.
		r.links[dest] = p
		return reuseLater
	}
	if !p.linkable {
		return reuseNo
	}
	p.placeholder = true
	r.links[dest] = p
	return reusePlaceholder
}

// unplan drops what was planned for dest: something else is written
// there through the overlay.
func (r *reuse) unplan(dest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.links, dest)
	r.written[dest] = true
}

// dir records a directory copyItems made or set the mtime of: it is in
// the upper dir once the overlay is unmounted.
func (r *reuse) dir(rel string, mtime unix.Timespec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dirs = append(r.dirs, dirTime{rel, mtime})
	r.dirSeen[rel] = true
}

// finish runs after the overlay is unmounted: each planned file becomes a
// link to the previous layer's file in upper, or is written there; then
// the directories get back the mtimes copyItems gave them. It returns how
// many files were linked.
func (r *reuse) finish(ctx context.Context, upper string) (int, error) {
	if len(r.links) == 0 {
		return 0, nil
	}
	upfd, err := unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(upfd)
	prevfd := -1
	if r.prevUpper != "" {
		if prevfd, err = unix.Open(r.prevUpper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return 0, err
		}
		defer unix.Close(prevfd)
	}
	var linked atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, dest := range slices.Sorted(maps.Keys(r.links)) {
		if err := gctx.Err(); err != nil {
			break
		}
		p := r.links[dest]
		g.Go(func() error {
			ok, err := linkPlanned(upfd, prevfd, dest, p)
			if err != nil {
				return fmt.Errorf("link %s from the previous build: %w", dest, err)
			}
			if ok {
				linked.Add(1)
				return nil
			}
			if err := writePlanned(upfd, dest, p); err != nil {
				return fmt.Errorf("write %s: %w", dest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return int(linked.Load()), err
	}
	if err := ctx.Err(); err != nil {
		return int(linked.Load()), err
	}
	// In the order copyItems set them: a directory two sources write keeps
	// the later one's mtime.
	for _, d := range r.dirs {
		ts := []unix.Timespec{d.mtime, d.mtime}
		fd, err := openNoSymlinks(upfd, d.path, unix.O_PATH|unix.O_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			continue // not in this layer's upper dir (an existing lower dir left as it was)
		}
		if err != nil {
			return int(linked.Load()), err
		}
		err = unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), ts, 0)
		unix.Close(fd)
		if err != nil {
			return int(linked.Load()), fmt.Errorf("set mtime of %s: %w", d.path, err)
		}
	}
	return int(linked.Load()), nil
}

// linkPlanned makes upper/dest a hard link to prev/dest when that is a
// regular file of p's size, mode, owner and mtime (for a placeholder, the
// placeholder's) with no xattrs. A placeholder is removed first; without
// one, dest must not exist. Neither path may go through a symlink. It
// reports whether it linked; when it did not, upper/dest is as before.
func linkPlanned(upfd, prevfd int, dest string, p planned) (bool, error) {
	if !p.linkable || prevfd < 0 {
		return false, nil
	}
	dir, name := path.Split(dest)
	dirfd, err := openNoSymlinks(upfd, strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false, err
	}
	defer unix.Close(dirfd)
	want := unix.Stat_t{Mode: unix.S_IFREG | p.mode, Uid: uint32(p.uid), Gid: uint32(p.gid), Mtim: p.mtime}
	if p.placeholder {
		if err := unix.Fstatat(dirfd, name, &want, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return false, err
		}
		if want.Mode&unix.S_IFMT != unix.S_IFREG || want.Size != 0 {
			return false, fmt.Errorf("placeholder is not an empty file")
		}
	}
	fd, err := openNoSymlinks(prevfd, dest, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return false, nil // gone, or not reachable without a symlink: write it instead
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, nil
	}
	if st.Mode != want.Mode || st.Uid != want.Uid || st.Gid != want.Gid || st.Mtim != want.Mtim || st.Size != p.size || st.Nlink >= maxReuseLinks {
		return false, nil
	}
	// An O_PATH fd takes no xattr calls; its /proc magic link, followed, does.
	if n, err := unix.Listxattr(fmt.Sprintf("/proc/self/fd/%d", fd), nil); err != nil || n != 0 {
		return false, nil
	}
	if p.placeholder {
		// Link beside it, then rename over it: it stays if linking fails.
		tmp := ".strata-link-" + name
		if err := linkFD(fd, dirfd, tmp); err != nil {
			return false, nil
		}
		if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
			_ = unix.Unlinkat(dirfd, tmp, 0)
			return false, err
		}
		return true, nil
	}
	if err := linkFD(fd, dirfd, name); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// linkFD makes name in dirfd a hard link to the file open as fd.
func linkFD(fd, dirfd int, name string) error {
	err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link does not.
		err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
	}
	return err
}

// maxReuseLinks keeps well below ext4's 65,000 links per inode.
const maxReuseLinks = 1000

// writePlanned writes p's data into its placeholder upper/dest, or makes
// upper/dest with p's data, mode and owner; either way with p's mtime.
func writePlanned(upfd int, dest string, p planned) error {
	how := &unix.OpenHow{
		Flags:   uint64(unix.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if !p.placeholder {
		how.Flags |= unix.O_CREAT | unix.O_EXCL
		how.Mode = 0o600 // openat2 takes a mode only with O_CREAT
	}
	fd, err := unix.Openat2(upfd, dest, how)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(fd), dest)
	defer out.Close()
	in, err := os.Open(p.src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if !p.placeholder {
		if err := unix.Fchown(fd, p.uid, p.gid); err != nil {
			return err
		}
		if err := unix.Fchmod(fd, p.mode); err != nil {
			return err
		}
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), []unix.Timespec{p.mtime, p.mtime}, 0)
}

var openat2OK = sync.OnceValue(func() bool {
	fd, err := openNoSymlinks(unix.AT_FDCWD, ".", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

// openat2Works says whether the kernel has openat2 (Linux 5.6), which
// finish needs to open paths without following symlinks.
func openat2Works() bool { return openat2OK() }

// openNoSymlinks opens rel under dirfd without following any symlink and
// without leaving dirfd ("" or "." is dirfd itself).
func openNoSymlinks(dirfd int, rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		return fd, err
	}
}

// recordInputs adds what the next run needs to reuse this run's files.
func (r *reuse) recordInputs(in *cache.Inputs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in.Dests = r.dests
}
