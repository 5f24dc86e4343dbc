package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/build/cache"
)

// mountKeys resolves where each mount reads from and returns the RUN's
// cache key part: every mount's spec, plus the layers of a stage or image
// it reads and the content of a context source (hashed as COPY hashes
// it). A secret adds its id, target and variable, never its value; an ssh
// mount its id and target, never the agent's socket or keys (a rebuild
// with another agent hits the cache, as in BuildKit). files are the
// context files read, for miss reasons.
func (b *builder) mountKeys(ctx context.Context, s *state, in Instruction, mounts []*runMount) (string, map[string]digest.Digest, error) {
	var parts []string
	files := map[string]digest.Digest{}
	for _, m := range mounts {
		src := ""
		switch {
		case m.from != "" && (m.typ == "bind" || m.typ == "cache"):
			if j := b.stageRef(m.from, s.index); j >= 0 {
				st, err := b.wait(ctx, j)
				if err != nil {
					return "", nil, err
				}
				m.fromChain = st.chainID
			} else {
				img, err := b.resolveImage(ctx, m.from, nil)
				if err != nil {
					return "", nil, b.errAt(in, "RUN --mount from=%s: no such stage or image in the store: %v", m.from, err)
				}
				m.fromChain = img.ChainID()
			}
			m.fromView = true
			src = "from:" + m.fromChain.String()
		case m.typ == "bind":
			if b.ctxTree == nil {
				return "", nil, b.errAt(in, "RUN --mount=type=bind: there is no build context (the Dockerfile came from standard input); use from=STAGE")
			}
			items, err := b.ctxTree.match(ctx, firstOf(m.source, "."))
			if err != nil {
				return "", nil, b.errAt(in, "RUN --mount source=%s: %v", firstOf(m.source, "."), err)
			}
			m.items = items
			b.statMu.Lock()
			h, fs, err := hashItems(ctx, items, b.ctxTree.stat, b.ctxTree.root)
			b.statMu.Unlock()
			if err != nil {
				return "", nil, b.errAt(in, "RUN --mount source=%s: hash: %v", m.source, err)
			}
			for k, v := range fs {
				files[k] = v
			}
			src = "content:" + h.String()
		case m.typ == "secret":
			if _, ok := b.secrets[m.id]; !ok && m.required {
				return "", nil, b.errAt(in, "RUN --mount=type=secret,id=%s: the secret is required but was not given (strata build --secret id=%s,src=FILE)", m.id, m.id)
			}
		case m.typ == "ssh":
			if _, ok := b.ssh[m.id]; !ok && m.required {
				return "", nil, b.errAt(in, "RUN --mount=type=ssh,id=%s: the ssh agent is required but was not given: pass --ssh %s (the agent at $SSH_AUTH_SOCK), --ssh %s=SOCKET or --ssh %s=KEYFILE", m.id, m.id, m.id, m.id)
			}
		}
		part := fmt.Sprintf("%s target=%s source=%s ro=%t id=%s sharing=%s mode=%o uid=%d gid=%d size=%d required=%t %s",
			m.typ, m.target, m.source, m.readonly, m.id, m.sharing, m.mode, m.uid, m.gid, m.size, m.required, src)
		if m.env != "" {
			part += " env=" + m.env // the name only
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "\n"), files, nil
}

// withRunMounts makes the mounts' sources ready (views of stages and
// images, cache dirs, secret files, ssh agent sockets, copies for rw
// binds), creates the mount points missing in rootfs and calls fn with
// the runtime-spec mounts and the secrets given as env= (VAR=value, for
// the RUN's environment only). Afterwards it removes the mount points it
// made and restores their parents' mtimes; the returned stubs say what it
// made, for pruneUpper.
func (b *builder) withRunMounts(ctx context.Context, rootfs string, mounts []*runMount, fn func(ms []specs.Mount, env []string) error) (*stubs, error) {
	st := &stubs{root: rootfs}
	roots := make([]string, len(mounts))
	var open func(i int) error
	open = func(i int) error {
		if i == len(mounts) {
			return b.mountAll(ctx, rootfs, mounts, roots, st, fn)
		}
		if !mounts[i].fromView {
			if b.ctxTree != nil {
				roots[i] = b.ctxTree.root
			}
			return open(i + 1)
		}
		return b.withView(ctx, mounts[i].fromChain, func(root string) error {
			roots[i] = root
			return open(i + 1)
		})
	}
	return st, open(0)
}

func (b *builder) mountAll(ctx context.Context, rootfs string, mounts []*runMount, roots []string, st *stubs, fn func([]specs.Mount, []string) error) error {
	tmp, err := os.MkdirTemp(secretTempDir(), "strata-mounts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var out []specs.Mount
	var env []string
	var release []func()
	defer func() {
		for _, r := range release {
			r()
		}
	}()
	isFile := map[string]bool{}
	for i, m := range mounts {
		sm := specs.Mount{Destination: m.target}
		switch m.typ {
		case "bind":
			host, file, err := b.bindSource(ctx, m, roots[i], tmp)
			if err != nil {
				return err
			}
			sm.Type, sm.Source, sm.Options = "bind", host, []string{"rbind", "rprivate"}
			if m.readonly {
				sm.Options = append(sm.Options, "ro")
			}
			isFile[m.target] = file
		case "sys":
			p := filepath.Join(tmp, "sys-"+strconv.Itoa(i))
			if err := os.WriteFile(p, []byte(m.data), 0o644); err != nil {
				return err
			}
			if m.mode != 0 {
				if err := os.Chmod(p, m.mode); err != nil {
					return err
				}
			}
			sm.Type, sm.Source, sm.Options = "bind", p, []string{"rbind", "rprivate", "ro"}
			isFile[m.target] = true
		case "cache":
			dir, unlock, err := b.cacheDir(ctx, m, roots[i])
			if err != nil {
				return err
			}
			release = append(release, unlock)
			sm.Type, sm.Source, sm.Options = "bind", dir, []string{"rbind", "rprivate"}
			if m.readonly {
				sm.Options = append(sm.Options, "ro")
			}
		case "tmpfs":
			sm.Type, sm.Source, sm.Options = "tmpfs", "tmpfs", []string{"nosuid", "nodev"}
			if m.size > 0 {
				sm.Options = append(sm.Options, "size="+strconv.FormatInt(m.size, 10))
			}
		case "secret":
			src, ok := b.secrets[m.id]
			if !ok {
				continue // not required: as BuildKit, the mount is left out
			}
			val, err := src.read(m.id)
			if err != nil {
				return err
			}
			if m.env != "" {
				env = append(env, m.env+"="+string(val))
				if m.target == "" {
					continue
				}
			}
			p := filepath.Join(tmp, "secret-"+strconv.Itoa(i))
			if err := os.WriteFile(p, val, 0o600); err != nil {
				return err
			}
			if err := os.Chown(p, m.uid, m.gid); err != nil {
				return err
			}
			if err := os.Chmod(p, m.mode); err != nil {
				return err
			}
			sm.Type, sm.Source, sm.Options = "bind", p, []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}
			isFile[m.target] = true
		case "ssh":
			src, ok := b.ssh[m.id]
			if !ok {
				continue // not required: as BuildKit, the mount is left out
			}
			p := filepath.Join(tmp, "ssh-"+strconv.Itoa(i))
			srv, err := src.listen(p, m.uid, m.gid, m.mode)
			if err != nil {
				return err
			}
			release = append(release, srv.Close)
			// Connecting to a socket is allowed on a read-only mount.
			sm.Type, sm.Source, sm.Options = "bind", p, []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}
			isFile[m.target] = true
		}
		out = append(out, sm)
	}
	// Mount points under another mount are made by runc in that mount;
	// the others are made here so that they can be taken away again.
	for _, sm := range out {
		under := false
		for _, o := range out {
			if o.Destination != sm.Destination && strings.HasPrefix(sm.Destination, o.Destination+"/") {
				under = true
			}
		}
		if under || strings.HasPrefix(sm.Destination, "/dev/") {
			continue // /dev is the runtime's tmpfs
		}
		if err := st.make(sm.Destination, isFile[sm.Destination]); err != nil {
			st.remove()
			return fmt.Errorf("mount point %s: %w", sm.Destination, err)
		}
	}
	err = fn(out, env)
	st.remove()
	return err
}

// bindSource returns the host path a bind mount shows: the source in its
// tree, or a copy of it when the mount is writable (its writes are then
// thrown away) or the context's .dockerignore hides part of it.
func (b *builder) bindSource(ctx context.Context, m *runMount, root, tmp string) (string, bool, error) {
	source := firstOf(m.source, ".")
	full, err := resolveIn(root, source, true)
	if err != nil {
		return "", false, err
	}
	fi, err := os.Stat(full)
	if err != nil {
		return "", false, fmt.Errorf("--mount source=%s: not found in %s", source, firstOf(m.from, "the build context"))
	}
	t := &sourceTree{root: root, desc: firstOf(m.from, "the build context")}
	if !m.fromView && b.ctxTree != nil {
		t.ignore = b.ctxTree.ignore
	}
	if m.readonly && (t.ignore == nil || len(t.ignore.rules) == 0) {
		return full, !fi.IsDir(), nil
	}
	items := m.items
	if items == nil {
		if items, err = t.match(ctx, source); err != nil {
			return "", false, err
		}
	}
	dst, err := os.MkdirTemp(tmp, "bind-")
	if err != nil {
		return "", false, err
	}
	if err := copyItems(ctx, dst, items, "/", true, copyOpts{}); err != nil {
		return "", false, fmt.Errorf("--mount source=%s: copy: %w", source, err)
	}
	if fi.IsDir() {
		return dst, false, nil
	}
	return filepath.Join(dst, items[0].name), true, nil
}

// secretTempDir is where secret files wait for their RUN: memory when
// the host has /dev/shm.
func secretTempDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// cacheDirName is a cache id as a directory name: the id itself when it is
// a plain name, else a readable form and a hash of the id. Names starting
// with a dot are the cache mount dir's own (.create.lock, .new-*, .del-*),
// so an id starting with one is hashed too.
func cacheDirName(id string) string {
	if !unsafeID.MatchString(id) && !strings.HasPrefix(id, ".") {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return strings.Trim(unsafeID.ReplaceAllString(id, "_"), "_.") + "-" + hex.EncodeToString(sum[:6])
}

// cacheDir returns the persistent directory of a cache mount under
// Options.CacheMountDir, made (and seeded from from/source) on first use,
// and locked as its sharing says: locked waits for other builds, private
// takes another directory when this one is in use. The returned release
// unlocks it and notes the use for the build's final commit (the mount's
// last use, which `builder prune` orders by).
//
// `strata builder prune` removes a mount only while it holds the lock
// exclusively, and removes the lock file before it lets go; so a lock
// taken here counts only if the file it was taken on is still the one at
// the path, and is otherwise taken again on the new file.
func (b *builder) cacheDir(ctx context.Context, m *runMount, root string) (string, func(), error) {
	if b.opts.CacheMountDir == "" {
		return "", nil, fmt.Errorf("cache mounts need a store (no cache mount directory)")
	}
	if err := os.MkdirAll(b.opts.CacheMountDir, 0o700); err != nil {
		return "", nil, err
	}
	base := filepath.Join(b.opts.CacheMountDir, cacheDirName(m.id))
	dir := base
	how := unix.LOCK_SH
	if m.sharing != "shared" {
		how = unix.LOCK_EX
	}
	if m.sharing == "private" {
		how |= unix.LOCK_NB
	}
	var lock *os.File
	for n, retries := 1, 0; lock == nil; {
		f, err := lockFile(ctx, dir+".lock", how)
		switch {
		case err == nil:
			lock = f
		case errors.Is(err, errLockFileGone) && retries < 64:
			retries++ // a prune removed the mount while this build waited
		case errors.Is(err, unix.EWOULDBLOCK) && n <= 64:
			dir = base + "-" + strconv.Itoa(n)
			n++
		default:
			return "", nil, fmt.Errorf("cache mount %s: lock: %w", m.id, err)
		}
	}
	release := func() {
		lock.Close()
		b.usedMu.Lock()
		b.mountUses = append(b.mountUses, cache.MountUse{Dir: filepath.Base(dir), ID: m.id, At: time.Now().UTC()})
		b.usedMu.Unlock()
	}
	if err := b.makeCacheDir(ctx, m, root, dir); err != nil {
		lock.Close()
		return "", nil, err
	}
	return dir, release, nil
}

var errLockFileGone = errors.New("lock file removed while waiting")

// lockFile opens (creating) and flocks the lock file p, and checks that
// the file locked is still the one at p.
func lockFile(ctx context.Context, p string, how int) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flockCtx(ctx, f, how); err != nil {
		f.Close()
		return nil, err
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Stat(p, &now); err != nil || now.Ino != held.Ino || now.Dev != held.Dev {
		f.Close()
		return nil, errLockFileGone
	}
	return f, nil
}

// makeCacheDir makes a missing cache dir with the mount's mode and owner,
// seeded from its from/source. Builds that share the id make it one at a
// time (an exclusive lock on .create.lock), and it is filled beside its
// final name and renamed, so a failure half-way leaves nothing.
func (b *builder) makeCacheDir(ctx context.Context, m *runMount, root, dir string) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(b.opts.CacheMountDir, ".create.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := flockCtx(ctx, f, unix.LOCK_EX); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil // made while this build waited
	}
	tmp, err := os.MkdirTemp(b.opts.CacheMountDir, ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if m.fromView {
		t := &sourceTree{root: root, desc: m.from}
		items, err := t.match(ctx, firstOf(m.source, "."))
		if err == nil {
			err = copyItems(ctx, tmp, items, "/", true, copyOpts{})
		}
		if err != nil {
			return fmt.Errorf("cache mount %s: seed from %s: %w", m.id, m.from, err)
		}
	}
	if err := os.Chown(tmp, m.uid, m.gid); err != nil {
		return err
	}
	if err := os.Chmod(tmp, m.mode); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// flockCtx takes a flock, retrying a blocking one so that ctx can end the
// wait.
func flockCtx(ctx context.Context, f *os.File, how int) error {
	if how&unix.LOCK_NB != 0 {
		return unix.Flock(int(f.Fd()), how)
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-waitTick():
		}
	}
}

// stubs are the mount points a RUN's mounts needed that its rootfs did
// not have. As BuildKit's MountStubsCleaner, they are removed after the
// run (when still empty) and their parents get their mtimes back, so a
// RUN that only reads its mounts leaves no trace in its layer.
type stubs struct {
	root    string
	created []string  // rootfs-relative, outermost first
	parents []dirMeta // existing dirs a stub was made in, and their ancestors
}

type dirMeta struct {
	rel        string
	st         unix.Stat_t
	restoreMtm bool // the stub was made directly in it
}

func (s *stubs) make(target string, file bool) error {
	parts := strings.Split(strings.Trim(target, "/"), "/")
	cur := "/"
	for i, p := range parts {
		next := path.Join(cur, p)
		full, err := resolveIn(s.root, next, true)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err == nil {
			rel, _ := filepath.Rel(s.root, full)
			cur = "/" + filepath.ToSlash(rel)
			continue
		} else if !errors.Is(err, unix.ENOENT) {
			return err
		}
		// full is missing: record its (existing) parent chain first.
		parent := filepath.Dir(full)
		for d, first := parent, true; ; d, first = filepath.Dir(d), false {
			rel, err := filepath.Rel(s.root, d)
			if err != nil || strings.HasPrefix(rel, "..") {
				break
			}
			var pst unix.Stat_t
			if err := unix.Lstat(d, &pst); err != nil {
				return err
			}
			s.parents = append(s.parents, dirMeta{rel: rel, st: pst, restoreMtm: first})
			if rel == "." {
				break
			}
		}
		for j := i; j < len(parts); j++ {
			if j == len(parts)-1 && file {
				f, err := os.OpenFile(full, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
				if err != nil {
					return err
				}
				f.Close()
			} else if err := os.Mkdir(full, 0o755); err != nil {
				return err
			}
			rel, _ := filepath.Rel(s.root, full)
			s.created = append(s.created, rel)
			if j+1 < len(parts) {
				full = filepath.Join(full, parts[j+1])
			}
		}
		return nil
	}
	return nil
}

// remove takes away the stubs that are still empty, innermost first, and
// gives their parents back their mtimes.
func (s *stubs) remove() {
	for i := len(s.created) - 1; i >= 0; i-- {
		full := filepath.Join(s.root, s.created[i])
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size != 0 {
			continue
		}
		_ = os.Remove(full) // a directory the RUN wrote into stays
	}
	for _, p := range s.parents {
		if p.restoreMtm {
			ts := []unix.Timespec{p.st.Atim, p.st.Mtim}
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(s.root, p.rel), ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
}

// pruneUpper, on an overlay upper dir after the RUN's unmount, takes away
// what making and removing the stubs left there: whiteouts of stubs whose
// path a lower layer had deleted, and directories copied up only to hold a
// stub (empty, not opaque, with the lower dir's metadata).
func (s *stubs) pruneUpper(upper string) error {
	if s == nil {
		return nil
	}
	for _, rel := range s.created {
		full := filepath.Join(upper, rel)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			if err := removeKeepParentTime(full); err != nil {
				return err
			}
		}
	}
	parents := append([]dirMeta(nil), s.parents...)
	sort.SliceStable(parents, func(i, j int) bool {
		return strings.Count(parents[i].rel, "/") > strings.Count(parents[j].rel, "/")
	})
	for _, p := range parents {
		if p.rel == "." {
			continue
		}
		full := filepath.Join(upper, p.rel)
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if st.Mode != p.st.Mode || st.Uid != p.st.Uid || st.Gid != p.st.Gid || st.Mtim != p.st.Mtim {
			continue
		}
		if names, err := readNames(full); err != nil || len(names) > 0 {
			continue
		}
		if isOpaqueDir(full) {
			continue
		}
		if err := removeKeepParentTime(full); err != nil {
			return err
		}
	}
	return nil
}

// removeKeepParentTime removes full and gives its parent back its mtime,
// which the removal changed.
func removeKeepParentTime(full string) error {
	var pst unix.Stat_t
	perr := unix.Lstat(filepath.Dir(full), &pst)
	if err := os.Remove(full); err != nil {
		return err
	}
	if perr == nil {
		ts := []unix.Timespec{pst.Atim, pst.Mtim}
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Dir(full), ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func isOpaqueDir(full string) bool {
	buf := make([]byte, 8)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(full, name, buf); err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// waitTick is how long flockCtx waits between tries; a test hooks it to
// learn that a lock is being waited for.
var waitTick = func() <-chan time.Time { return time.After(50 * time.Millisecond) }
