package archive

import (
	"errors"
	"os"
	"path"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Every path Apply and Rebuild touch is resolved by the kernel with openat2
// and RESOLVE_BENEATH (or, where openat2 is missing, by walkBeneath with the
// same rules): symlinks met on the way are followed only while they
// stay under root (a relative "lib -> usr/lib" works; "etc -> /etc" or
// "x -> ../.." fails with EXDEV), "/proc/self/fd"-style magic links are
// refused, and the last component is then acted on with *at calls that do not
// follow it. Nothing here builds a path string under root and hands it to a
// path-based syscall, so a symlink planted by an earlier entry cannot
// redirect a write.

const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// useOpenat2 is cleared the first time the kernel says ENOSYS (before 5.6,
// or a sandbox such as gVisor without it); tests clear it to cover the
// fallback.
var useOpenat2 atomic.Bool

func init() { useOpenat2.Store(true) }

// openBeneath opens rel (slash-separated, relative, clean; "." is dirfd
// itself) under dirfd with flags, following symlinks only inside dirfd.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	for useOpenat2.Load() {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: beneath})
		switch {
		case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN):
			continue // EAGAIN: a concurrent rename raced the lookup; retry
		case errors.Is(err, unix.ENOSYS):
			useOpenat2.Store(false)
		default:
			return fd, err
		}
	}
	return walkBeneath(dirfd, rel, flags)
}

// maxSymlinks is the kernel's limit on links followed in one lookup.
const maxSymlinks = 40

// walkBeneath is openBeneath done by hand, one component at a time with
// O_NOFOLLOW, for kernels without openat2. It keeps RESOLVE_BENEATH's
// rules: a relative symlink is expanded in place, an absolute one or a ".."
// above dirfd fails with EXDEV, and more than 40 links with ELOOP.
func walkBeneath(dirfd int, rel string, flags int) (int, error) {
	top, err := unix.Dup(dirfd)
	if err != nil {
		return -1, err
	}
	stack := []int{top} // the directories walked so far, dirfd first
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	todo := strings.Split(rel, "/")
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return -1, unix.EXDEV
			}
			unix.Close(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			continue
		}
		cur := stack[len(stack)-1]
		last := len(todo) == 0
		if last && flags&unix.O_NOFOLLOW != 0 {
			return unix.Openat(cur, name, flags|unix.O_CLOEXEC, 0)
		}
		fd, err := unix.Openat(cur, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(fd, "", buf)
			unix.Close(fd)
			if err != nil {
				return -1, err
			}
			if links++; links > maxSymlinks {
				return -1, unix.ELOOP
			}
			target := string(buf[:n])
			if strings.HasPrefix(target, "/") {
				return -1, unix.EXDEV
			}
			todo = append(strings.Split(target, "/"), todo...)
		case last:
			unix.Close(fd)
			return unix.Openat(cur, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			unix.Close(fd)
			return -1, unix.ENOTDIR
		default:
			stack = append(stack, fd)
		}
	}
	// rel named a directory reached by "." or ".." or a link: reopen it.
	return unix.Openat(stack[len(stack)-1], ".", flags|unix.O_CLOEXEC, 0)
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
