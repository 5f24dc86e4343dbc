package archive

import (
	"errors"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Every path Apply and Rebuild touch is resolved by the kernel with openat2
// and RESOLVE_BENEATH: symlinks met on the way are followed only while they
// stay under root (a relative "lib -> usr/lib" works; "etc -> /etc" or
// "x -> ../.." fails with EXDEV), "/proc/self/fd"-style magic links are
// refused, and the last component is then acted on with *at calls that do not
// follow it. Nothing here builds a path string under root and hands it to a
// path-based syscall, so a symlink planted by an earlier entry cannot
// redirect a write.

const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens rel (slash-separated, relative, clean; "." is dirfd
// itself) under dirfd with flags, following symlinks only inside dirfd.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: beneath})
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue // EAGAIN: a concurrent rename raced the lookup; retry
		}
		return fd, err
	}
}

// openDir opens the directory rel under rootfd as an O_PATH fd for *at
// calls, creating missing components with mode 0755 if create is set.
func openDir(rootfd int, rel string, create bool) (int, error) {
	fd, err := openBeneath(rootfd, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	// Create the missing components one at a time, each inside a parent
	// resolved beneath root.
	parts := strings.Split(rel, "/")
	pfd, err := unix.Dup(rootfd)
	if err != nil {
		return -1, err
	}
	for i, part := range parts {
		prefix := path.Join(parts[:i+1]...)
		fd, err := openBeneath(rootfd, prefix, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(pfd, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(pfd)
				return -1, err
			}
			fd, err = openBeneath(rootfd, prefix, unix.O_PATH|unix.O_DIRECTORY)
		}
		unix.Close(pfd)
		if err != nil {
			return -1, err
		}
		pfd = fd
	}
	return pfd, nil
}

// removeAllAt removes name in dirfd and, for a directory, everything under
// it, never following a symlink. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
		}
		if err != nil {
			break // io.EOF, or the error shows again at Unlinkat
		}
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// cleanName turns a tar entry or link name into a clean relative path: a
// leading "/" is dropped (as docker does, "/etc/x" is "etc/x" under root),
// and ok is false if the result climbs out of root.
func cleanName(name string) (rel string, ok bool) {
	rel = path.Clean("/" + name)[1:]
	if rel == "" {
		rel = "."
	}
	// path.Clean of a rooted path never keeps "..", so check the raw name
	// too: "a/../../x" must be refused, not silently become "x".
	if p := path.Clean(strings.TrimLeft(name, "/")); p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return rel, !strings.ContainsRune(name, 0)
}
