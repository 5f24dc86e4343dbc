package container

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/mount"
)

// isOverlay reports whether the container's snapshot is an overlay mount
// (its upper dir holds only its changes) rather than a full copy.
func (s *Store) isOverlay(ctx context.Context, c *Container) (bool, error) {
	mounts, err := s.sn.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return false, err
	}
	return len(mounts) > 0 && mounts[0].Type == "overlay", nil
}

// Diff lists the container's changes to its image, as docker diff: A, C
// and D rows. On overlay it reads only the upper dir (asking the lower
// dirs whether a path existed); on native it compares with the parent.
func (s *Store) Diff(ctx context.Context, ref string) ([]archive.Change, error) {
	c, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	upper, err := s.sn.UpperDir(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", c.Name, err)
	}
	parents, err := s.sn.ParentDirs(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", c.Name, err)
	}
	ov, err := s.isOverlay(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", c.Name, err)
	}
	var changes []archive.Change
	exists := func(p string) bool { return lowerExists(parents, p) }
	if ov {
		changes, err = archive.OverlayChanges(ctx, upper, exists)
		if err != nil {
			return nil, err
		}
		return dropRuntimeDirs(dropRuntimeFiles(changes, exists), upper, func(p string) string { return lowerPath(parents, p) }), nil
	}
	lower := ""
	if len(parents) > 0 {
		lower = parents[0]
	} else {
		tmp, err := os.MkdirTemp(s.dir(c.ID), "empty-")
		if err != nil {
			return nil, err
		}
		defer os.Remove(tmp)
		lower = tmp
	}
	changes, err = archive.Changes(ctx, lower, upper)
	if err != nil {
		return nil, err
	}
	changes = dropRuntimeFiles(changes, func(p string) bool {
		_, err := os.Lstat(filepath.Join(lower, p))
		return err == nil
	})
	return dropRuntimeDirs(changes, upper, func(p string) string { return filepath.Join(lower, p) }), nil
}

// runtimeParents are the directories that hold runtimeFiles.
var runtimeParents = map[string]bool{"/etc": true}

// dropRuntimeDirs drops "C DIR" for a directory that holds runc's mount
// points and nothing else that changed, with the image's mode and owner,
// and "A DIR" for one runc made (the image has no /etc) and the container
// left as runc made it: runc's files made it change, not the container.
// Docker keeps these
// mount points in an init layer under the container's, so its diff of a
// container that touched nothing is empty; so is Strata's.
func dropRuntimeDirs(changes []archive.Change, upper string, lower func(string) string) []archive.Change {
	out := changes[:0]
	for i, c := range changes {
		if (c.Kind == 'C' || c.Kind == 'A') && runtimeParents[c.Path] && !changedBelow(changes, i) && sameDir(filepath.Join(upper, c.Path), lower(c.Path)) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// changedBelow reports whether a change other than changes[i] is under
// changes[i].Path.
func changedBelow(changes []archive.Change, i int) bool {
	prefix := changes[i].Path + "/"
	for j, c := range changes {
		if j != i && strings.HasPrefix(c.Path, prefix) {
			return true
		}
	}
	return false
}

// runcDirMode is the mode and owner (root) runc gives a directory it
// makes for a mount point the image lacks.
const runcDirMode = 0o755

// sameDir reports whether a and b are directories of the same mode and
// owner; with b "" (the image has no such directory), whether a is as
// runc makes one.
func sameDir(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Lstat(a, &sa) != nil {
		return false
	}
	if b == "" {
		return sa.Mode == unix.S_IFDIR|runcDirMode && sa.Uid == 0 && sa.Gid == 0
	}
	if unix.Lstat(b, &sb) != nil {
		return false
	}
	return sa.Mode&unix.S_IFMT == unix.S_IFDIR && sa.Mode == sb.Mode && sa.Uid == sb.Uid && sa.Gid == sb.Gid
}

// sameAsImage reports whether the directory header hdr has the mode and
// owner of the image's directory at path; with path "" (the image has
// none), whether it is as runc makes one.
func sameAsImage(hdr *tar.Header, path string) bool {
	if path == "" {
		return hdr.Mode&0o7777 == runcDirMode && hdr.Uid == 0 && hdr.Gid == 0
	}
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	return uint32(hdr.Mode)&0o7777 == st.Mode&0o7777 && hdr.Uid == int(st.Uid) && hdr.Gid == int(st.Gid)
}

// lowerPath returns p in the nearest of the overlay lower dirs that shows
// it, or "".
func lowerPath(lowers []string, p string) string {
	if !lowerExists(lowers, p) {
		return ""
	}
	for _, l := range lowers {
		if _, err := os.Lstat(filepath.Join(l, p)); err == nil {
			return filepath.Join(l, p)
		}
	}
	return ""
}

// runtimeFiles are the mount points runc creates in the rootfs when the
// image lacks them (as docker's init layer, they are not the container's
// changes): the files bind-mounted over, always, and the API filesystems'
// directories when the image has none.
var runtimeFiles = map[string]bool{"/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true}

var runtimeDirs = map[string]bool{"/proc": true, "/sys": true, "/dev": true}

// isRuntimeFile reports whether p is a runc-made mount point, given
// whether the image had it.
func isRuntimeFile(p string, inImage func(string) bool) bool {
	if runtimeFiles[p] {
		return true
	}
	for d := p; d != "/" && d != "."; d = filepath.Dir(d) {
		if runtimeDirs[d] {
			return !inImage(d)
		}
	}
	return false
}

func dropRuntimeFiles(changes []archive.Change, inImage func(string) bool) []archive.Change {
	out := changes[:0]
	for _, c := range changes {
		if !isRuntimeFile(c.Path, inImage) {
			out = append(out, c)
		}
	}
	return out
}

// filterLayer copies the layer tar r to w without runc's mount points,
// nor a directory of theirs that holds nothing else and has the image's
// mode and owner (see dropRuntimeDirs); lower gives a path in the image.
func filterLayer(w io.Writer, r io.Reader, inImage func(string) bool, lower func(string) string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	// A runtime parent's header, held until an entry under it shows it
	// is needed.
	var held *tar.Header
	heldPath := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		p := "/" + strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if isRuntimeFile(p, inImage) {
			continue
		}
		if held != nil {
			if strings.HasPrefix(p, heldPath+"/") {
				if err := tw.WriteHeader(held); err != nil {
					return err
				}
			}
			held = nil
		}
		if hdr.Typeflag == tar.TypeDir && runtimeParents[p] && sameAsImage(hdr, lower(p)) {
			held, heldPath = hdr, p
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// lowerExists reports whether p shows in the stack of overlay lower dirs,
// nearest first: the first layer that has p, or a whiteout of it or of a
// parent, or an opaque parent, decides.
func lowerExists(lowers []string, p string) bool {
	rel := strings.TrimPrefix(filepath.Clean(p), "/")
	parts := strings.Split(rel, "/")
	for _, l := range lowers {
		// Is p, or one of its parents, whited out or opaque-cut here?
		cur := l
		for i, part := range parts {
			full := filepath.Join(cur, part)
			var st unix.Stat_t
			if err := unix.Lstat(full, &st); err != nil {
				break // not in this layer; look lower
			}
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				return false // whiteout
			}
			if i == len(parts)-1 {
				return true
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return false
			}
			if opaque(full) {
				// Below an opaque dir the lower layers do not show: decide here.
				rest := filepath.Join(append([]string{full}, parts[i+1:]...)...)
				_, err := os.Lstat(rest)
				return err == nil
			}
			cur = full
		}
	}
	return false
}

func opaque(dir string) bool {
	buf := make([]byte, 4)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(dir, name, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// CommitOptions are commit's -p.
type CommitOptions struct {
	// Pause freezes a running container while its layer is read.
	Pause bool
}

// Commit writes the container's layer as an uncompressed OCI layer tar to
// w: the overlay upper dir with whiteouts and opaque dirs turned into
// .wh. entries, without walking the lower layers (on native, the
// difference from the parent's copy). The caller compresses, stores it
// and makes the image.
func (s *Store) Commit(ctx context.Context, ref string, w io.Writer, opts CommitOptions) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if opts.Pause {
		if st, err := s.Status(ctx, c.ID); err == nil && st.Running {
			if err := s.runc.Pause(ctx, c.ID); err != nil {
				return fmt.Errorf("commit %s: %w", c.Name, err)
			}
			defer func() { _ = s.runc.Resume(context.WithoutCancel(ctx), c.ID) }()
		}
	}
	diff, err := layer.OpenDiff(ctx, s.sn, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c.Name, err)
	}
	parents := diff.Parents
	inImage := func(p string) bool { return lowerExists(parents, p) }
	lower := func(p string) string { return lowerPath(parents, p) }
	if !diff.Overlay {
		lower = func(string) string { return "" }
		if len(parents) > 0 {
			inImage = func(p string) bool {
				_, err := os.Lstat(filepath.Join(parents[0], p))
				return err == nil
			}
			lower = func(p string) string { return filepath.Join(parents[0], p) }
		}
	}
	write := func(pw io.Writer) error { return diff.Write(ctx, pw, archive.WriteOptions{}) }
	// The layer is filtered as it streams: the writer goroutine ends when
	// it has written everything or the reader side fails (CloseWithError).
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	err = filterLayer(w, pr, inImage, lower)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c.Name, err)
	}
	return nil
}

// withRootfs calls fn with the container's merged filesystem: the running
// container's mounted rootfs, or a temporary mount of its snapshot.
func (s *Store) withRootfs(ctx context.Context, c *Container, fn func(root string) error) error {
	rootfs := s.rootfs(c.ID)
	if st, err := s.Status(ctx, c.ID); err == nil && st.Running {
		if in, err := mount.Lookup(rootfs); err == nil && in.Mountpoint == resolved(rootfs) {
			return fn(rootfs)
		}
	}
	mounts, err := s.sn.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.dir(c.ID), "mnt-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := mount.All(mounts, tmp); err != nil {
		return err
	}
	defer mount.UnmountAll(tmp, 0)
	return fn(tmp)
}

func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// writeOptions are those of a tar of a container's rootfs: the store's
// shared inodes are not hard links.
func (s *Store) writeOptions(ctx context.Context) archive.WriteOptions {
	var o archive.WriteOptions
	if s.shared != nil {
		o.Shared = s.shared(ctx)
	}
	return o
}

// Export writes a tar of the container's merged filesystem to w.
func (s *Store) Export(ctx context.Context, ref string, w io.Writer) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	err = s.withRootfs(ctx, c, func(root string) error {
		return archive.WriteDir(ctx, w, root, s.writeOptions(ctx))
	})
	if err != nil {
		return fmt.Errorf("export %s: %w", c.Name, err)
	}
	return nil
}

// CopyOptions are cp's -L and -a.
type CopyOptions struct {
	// FollowLink (-L) copies what a source that is a symlink points to,
	// under the link's name; without it the link itself is copied.
	FollowLink bool
	// Archive (-a) keeps the files' uid and gid; without it files copied
	// in belong to the container's root and files copied out to the
	// caller, as docker's.
	Archive bool
}

// CopyFrom writes a tar of path in the container to w, named by its base
// name (a directory with everything under it), as docker cp CTR:PATH -.
// Symlinks on the way are resolved inside the container's root; the last
// component only with o.FollowLink.
func (s *Store) CopyFrom(ctx context.Context, ref, path string, w io.Writer, o CopyOptions) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	var missing error
	err = s.withRootfs(ctx, c, func(root string) error {
		src, err := secureJoin(root, path)
		if base := filepath.Base(filepath.Clean("/" + path)); err == nil && !o.FollowLink && base != "/" {
			// The link itself: resolve only the directory it is in.
			var dir string
			if dir, err = secureJoin(root, filepath.Dir(filepath.Clean("/"+path))); err == nil {
				src = filepath.Join(dir, base)
			}
		}
		if err == nil {
			_, err = os.Lstat(src)
		}
		if errors.Is(err, fs.ErrNotExist) {
			missing = notInContainer(c, path)
			return missing
		}
		if err != nil {
			return err
		}
		base := filepath.Base(filepath.Clean("/" + path))
		if base == "/" {
			base = "."
		}
		return archive.WritePath(ctx, w, src, base, s.writeOptions(ctx))
	})
	if missing != nil {
		return missing
	}
	if err != nil {
		return fmt.Errorf("copy %s:%s: %w", c.Name, path, err)
	}
	return nil
}

// notInContainer is docker's answer for a cp path the container lacks,
// which names neither the store nor the step that looked.
func notInContainer(c *Container, path string) error {
	return fmt.Errorf("Could not find the file %s in container %s: %w", filepath.Clean("/"+path), c.Name, errdefs.ErrNotFound)
}

// CopyTo extracts the tar r (plain, gzip or zstd, as dockerd takes it)
// into the directory dst of the container, as
// docker cp - CTR:DST (archive.Apply's path safety applies).
func (s *Store) CopyTo(ctx context.Context, ref, dst string, r io.Reader) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	var missing error
	err = s.withRootfs(ctx, c, func(root string) error {
		target, err := secureJoin(root, dst)
		var fi os.FileInfo
		if err == nil {
			fi, err = os.Stat(target)
		}
		if errors.Is(err, fs.ErrNotExist) {
			missing = notInContainer(c, dst)
			return missing
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory: %w", dst, errdefs.ErrInvalidArgument)
		}
		// The API's PUT archive may send it compressed (testcontainers
		// gzips), as dockerd accepts.
		tr, _, err := archive.Decompress(r)
		if err != nil {
			return err
		}
		defer tr.Close()
		_, err = archive.Apply(ctx, target, tr, archive.ApplyOptions{})
		return err
	})
	if missing != nil {
		return missing
	}
	if err != nil {
		return fmt.Errorf("copy to %s:%s: %w", c.Name, dst, err)
	}
	return nil
}

// secureJoin resolves path inside root, following symlinks as if root
// were /, so nothing outside root is reached.
func secureJoin(root, path string) (string, error) {
	parts := strings.Split(filepath.Clean("/"+path), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		if p == "" || p == "." {
			continue
		}
		next := filepath.Join(cur, p)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			if os.IsNotExist(err) && len(parts) == 0 {
				return filepath.Join(root, next), nil
			}
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > 40 {
				return "", fmt.Errorf("%s: too many symlinks", path)
			}
			t, err := os.Readlink(filepath.Join(root, next))
			if err != nil {
				return "", err
			}
			if filepath.IsAbs(t) {
				cur = "/"
			}
			parts = append(strings.Split(filepath.Clean(t), "/"), parts...)
			continue
		}
		cur = next
	}
	return filepath.Join(root, cur), nil
}
