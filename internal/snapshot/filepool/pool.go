package filepool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// DefaultMinSize is the smallest file pooled by default: every non-empty
// file (see doc.go for the measurement). Empty files take no data block.
const DefaultMinSize = 1

// maxLinks keeps a pool inode well below ext4's 65,000 links.
const maxLinks = 60000

// Pool is a file pool in one directory, on the same filesystem as the
// snapshot directories it is linked into. Its methods are safe for
// concurrent use, by several processes too.
type Pool struct {
	root string
	// MinSize is the smallest file Dedupe pools; 0 means DefaultMinSize.
	MinSize int64
}

// Open opens (creating if needed, mode 0700) the pool at root.
func Open(root string) (*Pool, error) {
	for _, d := range []string{root, filepath.Join(root, "sha256"), filepath.Join(root, "tmp")} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("open file pool: %w", err)
		}
	}
	return &Pool{root: root}, nil
}

// Root is the pool's directory.
func (p *Pool) Root() string { return p.root }

func (p *Pool) minSize() int64 {
	if p.MinSize > 0 {
		return p.MinSize
	}
	return DefaultMinSize
}

// Stats is what a Dedupe pass did.
type Stats struct {
	Files  int   // regular files looked at
	Pooled int   // files that now share the pool's inode (new pool entries and links to existing ones)
	Saved  int64 // bytes of data blocks freed: files replaced by a link to an existing pool entry
}

func (s *Stats) add(o Stats) { s.Files += o.Files; s.Pooled += o.Pooled; s.Saved += o.Saved }

// count adds the outcome of one file looked at: pooled or not, bytes freed.
func (s *Stats) count(pooled bool, saved int64) {
	if pooled {
		s.Pooled++
	}
	s.Saved += saved
}

// Dedupe pools the regular files under dir, which must be a snapshot's own
// files that nothing writes to any more (a committed snapshot, or one
// being committed): each file of at least MinSize bytes with one link and
// no overlay xattr either becomes the pool's entry for its key or is
// replaced by a link to the entry already there. Directory times are kept.
// It is idempotent: files already linked are skipped without being read.
// With known (the digests noted as a layer was unpacked into dir, which
// name every file the unpacker wrote), only the files noted are looked
// at, without a walk of dir: one whose digest holds (it is unchanged
// since) is pooled without being opened; one changed since is read. With
// known nil, every regular file under dir is read. On error (or
// cancellation) the files done so far stay pooled.
func (p *Pool) Dedupe(ctx context.Context, dir string, known *Hashes) (Stats, error) {
	return p.dedupe(ctx, &pass{root: dir, known: known})
}

// dedupe is Dedupe of the tree pass.root.
func (p *Pool) dedupe(ctx context.Context, pass *pass) (Stats, error) {
	dir := pass.root
	// Entries are linked relative to the pool's sha256/ directory: a path
	// of two components to resolve per link instead of the whole root's.
	sfd, err := unix.Open(filepath.Join(p.root, "sha256"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("dedupe %s: open file pool: %w", dir, err)
	}
	defer unix.Close(sfd)
	pass.shards = sfd
	if pass.known != nil {
		return p.dedupeNoted(ctx, pass)
	}
	var dirs []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return ctx.Err()
	})
	if err != nil {
		return Stats{}, fmt.Errorf("dedupe %s: %w", dir, err)
	}
	var (
		mu    sync.Mutex
		total Stats
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(min(runtime.GOMAXPROCS(0), 4))
	for _, d := range dirs {
		g.Go(func() error {
			s, err := p.dedupeDir(gctx, d, pass)
			mu.Lock()
			total.add(s)
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("dedupe %s: %w", d, err)
			}
			return nil
		})
	}
	err = g.Wait()
	return total, err
}

// bufs are the read buffers of the passes' directories.
var bufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// dirWork is what a pass keeps for one directory: its journal and, once
// a file there is read, a read buffer.
type dirWork struct {
	j   *journal
	buf *[]byte
}

func (w *dirWork) buffer() []byte {
	if w.buf == nil {
		w.buf = bufs.Get().(*[]byte)
	}
	return *w.buf
}

// end puts the directory's times back if the pass replaced entries in it
// (journal.end) and gives the buffer back.
func (w *dirWork) end() error {
	if w.buf != nil {
		bufs.Put(w.buf)
		w.buf = nil
	}
	return w.j.end()
}

// pass is what one Dedupe call shares between its directories.
type pass struct {
	root   string  // the tree's directory
	known  *Hashes // digests noted as the files were written, or nil
	shards int     // the pool's sha256/ directory
	// merge maps the inodes of entries of an earlier content hash to the
	// key of the entry their files are to be linked to (Rekeyed).
	merge map[uint64]string
}

// dedupeDir pools the files directly in dir, putting its times back if it
// replaced any.
func (p *Pool) dedupeDir(ctx context.Context, dir string, ps *pass) (s Stats, err error) {
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return s, err
	}
	d := os.NewFile(uintptr(dirfd), dir)
	defer d.Close()
	var dst unix.Stat_t
	if err := unix.Fstat(dirfd, &dst); err != nil {
		return s, err
	}
	ents, err := d.ReadDir(-1)
	if err != nil {
		return s, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	relDir, err := filepath.Rel(ps.root, dir)
	if err != nil {
		return s, err
	}
	w := &dirWork{j: &journal{pool: p, dir: dir, dirfd: dirfd, st: dst}}
	defer func() {
		if werr := w.end(); werr != nil && err == nil {
			err = werr
		}
	}()
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return s, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		s.Files++
		if k, ok := ps.merge[st.Ino]; ok {
			// A file of an entry Rekey found under its current key
			// already: link it to that entry (which compares them).
			pooled, saved, err := p.link(dirfd, name, k, &st, w.j, ps)
			if err != nil {
				return s, fmt.Errorf("%s: %w", name, err)
			}
			if st.Nlink > 2 {
				saved = 0 // freed when the old entry's last snapshot file is relinked (and Prune runs)
			}
			s.count(pooled, saved)
			continue
		}
		if st.Nlink != 1 || st.Size < p.minSize() {
			continue
		}
		pooled, saved, err := p.file(dirfd, name, filepath.Join(relDir, name), &st, w.j, ps, w.buffer())
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		s.count(pooled, saved)
	}
	return s, nil
}

// file pools dirfd/name (rel in the tree), a regular file with one link
// (st). It reports whether it is now pooled and the bytes freed.
func (p *Pool) file(dirfd int, name, rel string, st *unix.Stat_t, j *journal, ps *pass, buf []byte) (bool, int64, error) {
	k, ok, err := p.readKey(dirfd, name, rel, st, ps, buf)
	if err != nil || !ok {
		return false, 0, err
	}
	return p.link(dirfd, name, k, st, j, ps)
}

// readKey opens dirfd/name (rel in the tree, stat st) and returns its pool
// key (pass.keyOf).
func (p *Pool) readKey(dirfd int, name, rel string, st *unix.Stat_t, ps *pass, buf []byte) (string, bool, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return ps.keyOf(rel, f, st, buf)
}

// link makes dirfd/name (stat st, pool key k) the pool's entry for k, or
// replaces it by a link to the entry already there, keeping the
// directory's times in the journal j (nil: the caller need not). It
// reports whether the file is now pooled and the bytes freed.
func (p *Pool) link(dirfd int, name, k string, st *unix.Stat_t, j *journal, ps *pass) (bool, int64, error) {
	// Most files of a layer being committed are new to the pool: first
	// try to make the file the entry (linkat is atomic, so an entry is
	// whole or absent), and link to the entry only if there is one.
	shard, entry := entryPath(k)
	for attempt := 0; attempt < 2; attempt++ {
		err := unix.Linkat(dirfd, name, ps.shards, entry, 0)
		if errors.Is(err, unix.ENOENT) {
			// The entry's shard directory is not there yet.
			if err := unix.Mkdirat(ps.shards, shard, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return false, 0, err
			}
			err = unix.Linkat(dirfd, name, ps.shards, entry, 0)
		}
		if err == nil {
			return true, 0, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return false, 0, fmt.Errorf("add to the file pool: %w", err)
		}
		tmp := p.tmpName("link")
		err = unix.Linkat(ps.shards, entry, unix.AT_FDCWD, tmp, 0)
		switch {
		case err == nil:
			var pst unix.Stat_t
			if err := unix.Lstat(tmp, &pst); err != nil {
				_ = unix.Unlink(tmp)
				return false, 0, err
			}
			if !usableEntry(&pst, st) {
				// A damaged entry (fsck reports it) or one with too many
				// links: keep the file as it is.
				_ = unix.Unlink(tmp)
				return false, 0, nil
			}
			if same, err := sameContent(tmp, dirfd, name, st.Size); err != nil || !same {
				// Another content under the same digest (ContentHash is
				// not collision-resistant), or an entry damaged in place.
				_ = unix.Unlink(tmp)
				return false, 0, err
			}
			if err := j.begin(); err != nil {
				_ = unix.Unlink(tmp)
				return false, 0, err
			}
			if err := exchange(tmp, dirfd, name); err != nil {
				_ = unix.Unlink(tmp)
				return false, 0, fmt.Errorf("link from the file pool: %w", err)
			}
			// tmp is now the file replaced (or gone, after a plain rename).
			_ = unix.Unlink(tmp)
			return true, st.Blocks * 512, nil
		case errors.Is(err, unix.ENOENT):
			continue // Prune removed the entry meanwhile: make the file the entry
		case errors.Is(err, unix.EMLINK):
			return false, 0, nil
		default:
			return false, 0, fmt.Errorf("link from the file pool: %w", err)
		}
	}
	return false, 0, nil
}

// exchange puts the file at tmp (a link to a pool entry) at dirfd/name,
// atomically, and the file that was there at tmp. A plain rename over
// name would do, but ext4 (auto_da_alloc) takes a rename over an existing
// file for an application replacing a file it just wrote, and forces the
// renamed file's data out with the next journal commit: here that is the
// pool entry's, often still in the page cache from the image pulled just
// before, and the pull doing the rename waits for the disk. An exchange
// is not taken so. Where the filesystem cannot exchange, tmp is renamed.
func exchange(tmp string, dirfd int, name string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, dirfd, name, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		err = unix.Renameat(unix.AT_FDCWD, tmp, dirfd, name)
	}
	return err
}

// usableEntry tells whether a pool entry (lstat pst, the new link to it
// counted) can stand for a file with lstat st: it has what the key
// promises of st, and not too many links.
func usableEntry(pst, st *unix.Stat_t) bool { return sameFile(pst, st) && pst.Nlink <= maxLinks }

// sameFile tells whether a pool entry has what the key promises of st.
func sameFile(pst, st *unix.Stat_t) bool {
	return pst.Mode == st.Mode && pst.Uid == st.Uid && pst.Gid == st.Gid &&
		pst.Size == st.Size && pst.Mtim == st.Mtim && pst.Dev == st.Dev
}

// keyOf returns the pool key of the open file f (stat st) at rel, from
// the digest noted as it was written if it is unchanged since (st then
// takes the file's stat after its xattrs were read), else by hashing it.
func (ps *pass) keyOf(rel string, f *os.File, st *unix.Stat_t, buf []byte) (string, bool, error) {
	if _, ok := ps.known.digest(rel, st); !ok {
		return keyOf(f, st, buf)
	}
	xattrs, ok, err := poolableXattrs(f)
	if err != nil || !ok {
		return "", false, err
	}
	// The stat that goes into the key is the one the noted digest is
	// checked against, taken after the xattrs were read.
	if err := unix.Fstat(int(f.Fd()), st); err != nil {
		return "", false, err
	}
	dgst, ok := ps.known.digest(rel, st)
	if !ok {
		return keyOf(f, st, buf)
	}
	return key(dgst, st, xattrs), true, nil
}

// poolableXattrs reads the xattrs of f, and false when f must not be
// pooled: it has an overlay xattr.
func poolableXattrs(f *os.File) (map[string]string, bool, error) {
	xattrs, err := fileXattrs(int(f.Fd()))
	if err != nil {
		return nil, false, err
	}
	return xattrs, poolable(xattrs), nil
}

// poolable tells whether a file with xattrs may be pooled: it has no
// overlay xattr.
func poolable(xattrs map[string]string) bool {
	for name := range xattrs {
		if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			return false
		}
	}
	return true
}

// ContentHash makes the hash that names a file's content in a pool key,
// and names its algorithm (the unpacker takes it to note the digests of
// the files it writes: archive.ApplyOptions.FileHash). It is XXH3-128: 51
// GB/s a core here against BLAKE3's 3.9 on 1 MiB, and 5.8 against 0.58 on
// 3 KB with a hash made per file (BenchmarkContentHash), which is what
// every file of every layer unpacked costs with dedupe on (BLAKE3 took 290
// ms of CPU in a pull of the bench's big image that already fills both
// cores: issue #16's on/off ratio). XXH3 is not collision-resistant: a
// file can be made to have the digest of another. So a digest only finds
// the entry a file may share; no file is linked to an entry whose bytes
// were not compared equal to its own first (sameContent, sameBytes), and a
// file crafted to collide with an entry is kept as it is, unshared.
// Entries made before with BLAKE3 or SHA-256 content digests stay valid
// (Check knows them) until Rekey moves them to their key under this one.
func ContentHash() (digest.Algorithm, hash.Hash) { return "xxh3-128", xxh3.New128() }

// legacyContentHashes are the content hashes of the pool's earlier
// entries, newest first.
var legacyContentHashes = []func() (digest.Algorithm, hash.Hash){
	func() (digest.Algorithm, hash.Hash) { return "blake3", blake3.New() },
	func() (digest.Algorithm, hash.Hash) { return digest.SHA256, sha256.New() },
}

// keyOf hashes the open file f (stat st) and returns its pool key, or
// false when it must not be pooled: it has an overlay xattr, or it changed
// while being read.
func keyOf(f *os.File, st *unix.Stat_t, buf []byte) (string, bool, error) {
	return keyWith(f, st, buf, contentHash)
}

// contentHash is ContentHash; tests make it collide.
var contentHash = ContentHash

// keyWith is keyOf with the content hash newHash.
func keyWith(f *os.File, st *unix.Stat_t, buf []byte, newHash func() (digest.Algorithm, hash.Hash)) (string, bool, error) {
	xattrs, ok, err := poolableXattrs(f)
	if err != nil || !ok {
		return "", false, err
	}
	alg, h := newHash()
	if st.Size < int64(len(buf)) {
		// One read for the whole file (and none for the end).
		n, err := io.ReadFull(f, buf[:st.Size])
		if err != nil {
			return "", false, nil // shorter than it was: changed meanwhile
		}
		h.Write(buf[:n])
	} else if _, err := io.CopyBuffer(h, onlyReader{f}, buf); err != nil {
		return "", false, fmt.Errorf("read: %w", err)
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return "", false, err
	}
	if after.Ino != st.Ino || after.Size != st.Size || after.Mtim != st.Mtim || after.Ctim != st.Ctim {
		return "", false, nil
	}
	return key(digest.NewDigest(alg, h), st, xattrs), true, nil
}

// key is the pool name of a file with content dgst, stat st and xattrs:
// everything a reader of the file can see but its path and link count.
func key(dgst digest.Digest, st *unix.Stat_t, xattrs map[string]string) string {
	// "strata-file-pool/v1\n<dgst>\nmode %o\nuid %d\ngid %d\nmtime %d.%09d\n",
	// appended by hand: fmt took a tenth of a pull's pooling.
	var a [256]byte
	b := append(a[:0], "strata-file-pool/v1\n"...)
	b = append(b, dgst...)
	b = append(b, "\nmode "...)
	b = strconv.AppendUint(b, uint64(st.Mode), 8)
	b = append(b, "\nuid "...)
	b = strconv.AppendUint(b, uint64(st.Uid), 10)
	b = append(b, "\ngid "...)
	b = strconv.AppendUint(b, uint64(st.Gid), 10)
	b = append(b, "\nmtime "...)
	b = strconv.AppendInt(b, st.Mtim.Sec, 10)
	b = append(b, '.')
	ns := strconv.AppendInt(nil, st.Mtim.Nsec, 10)
	for range 9 - len(ns) {
		b = append(b, '0')
	}
	b = append(b, ns...)
	b = append(b, '\n')
	h := sha256.New()
	h.Write(b)
	names := make([]string, 0, len(xattrs))
	for n := range xattrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "xattr %q %q\n", n, xattrs[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// entryPath is where the entry of key lives, relative to the pool's
// sha256/ directory: in one of 16 shard directories, by its first hex
// digit. A directory takes at least a block (4 KiB on ext4), so 256 shards
// made 1 MiB of mostly empty directory blocks for a store of one image of
// 5,000 files; 16 fill theirs and still spread the directory locks of
// concurrent passes. Entries at sha256/<2 digits>/ (the layout before) are
// still walked by Prune, Inodes and Check, but new files are not linked to
// them.
func entryPath(key string) (shard, entry string) { return key[:1], key[:1] + "/" + key }

// onlyReader hides a file's WriteTo so io.CopyBuffer uses the buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(b []byte) (int, error) { return o.r.Read(b) }

// fileXattrs reads the xattrs of the open file fd.
func fileXattrs(fd int) (map[string]string, error) {
	return readXattrs(
		func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(name string, b []byte) (int, error) { return unix.Fgetxattr(fd, name, b) })
}

// xattrsAt reads the xattrs of the file name in the directory dirfd,
// not following a symlink: one call for a file without any, and no open.
// The list is taken with listxattrat (Linux 6.13), relative to dirfd: 2.1
// µs a call here against 3.6 through a /proc/self/fd path, which it falls
// back to on an older kernel; the values (files with xattrs are few) by
// that path.
func xattrsAt(dirfd int, name string) (map[string]string, error) {
	path := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	return readXattrs(
		func(b []byte) (int, error) {
			if !noListxattrat.Load() {
				n, err := listxattrat(dirfd, name, b)
				if !errors.Is(err, unix.ENOSYS) {
					return n, err
				}
				noListxattrat.Store(true)
			}
			return unix.Llistxattr(path, b)
		},
		func(name string, b []byte) (int, error) { return unix.Lgetxattr(path, name, b) })
}

// noListxattrat is set once the kernel said it has no listxattrat.
var noListxattrat atomic.Bool

// listxattrat is listxattrat(2) with AT_SYMLINK_NOFOLLOW (not wrapped by
// x/sys/unix yet).
func listxattrat(dirfd int, name string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	var b unsafe.Pointer
	if len(buf) > 0 {
		b = unsafe.Pointer(&buf[0])
	}
	r, _, e := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unix.AT_SYMLINK_NOFOLLOW), uintptr(b), uintptr(len(buf)), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// readXattrs reads a file's xattrs with list and get (the f- or l- calls).
func readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) (map[string]string, error) {
	var small [256]byte
	buf := small[:]
	n, err := list(buf)
	for errors.Is(err, unix.ERANGE) {
		buf = make([]byte, len(buf)*4)
		n, err = list(buf)
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 256)
		m, err := get(name, v)
		for errors.Is(err, unix.ERANGE) {
			v = make([]byte, len(v)*4)
			m, err = get(name, v)
		}
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read xattr %s: %w", name, err)
		}
		out[name] = string(v[:m])
	}
	return out, nil
}
