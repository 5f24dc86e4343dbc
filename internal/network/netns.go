package network

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNS makes a network namespace holding only lo (up) and pins it at path
// with a bind mount, as "ip netns add" does, so it outlives every process
// in it. The calling thread's namespace is untouched: the namespace is made
// on a locked thread of its own (see onThread).
func newNS(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		errc <- onThread(func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
			return unix.Mount(src, path, "", unix.MS_BIND, "")
		})
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	h, err := handleAt(path)
	if err != nil {
		removeNS(path)
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		removeNS(path)
		return fmt.Errorf("network namespace %s: lo up: %w", path, err)
	}
	return nil
}

// removeNS unpins the namespace at path and removes the file. The
// namespace itself goes when its last process (and pasta's descriptor)
// does. A path already gone is not an error.
func removeNS(path string) {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return
	}
	_ = os.Remove(path)
}

// nsPinned reports whether path is a pinned network namespace.
func nsPinned(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// handleAt is a netlink handle working inside the namespace at path.
func handleAt(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return h, nil
}

// inNS runs fn on a thread that has entered the namespace at path (see
// onThread), so no other goroutine runs in that namespace.
func inNS(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		errc <- onThread(func() error {
			if err := netns.Set(ns); err != nil {
				return fmt.Errorf("enter network namespace %s: %w", path, err)
			}
			return fn()
		})
	}()
	return <-errc
}

// onThread runs fn, which may move the calling thread into another network
// namespace, on the calling goroutine locked to its thread, and puts the
// thread back into the namespace it came from before unlocking it. A
// thread that cannot be put back stays locked, so Go ends it with its
// goroutine, except the process's main thread, which Go parks for good
// instead: parked in a sandbox's namespace it would keep that namespace,
// and the veths in it, alive as long as the process (the main thread is
// as likely as any to run the goroutine, so putting it back is the rule).
// The caller runs onThread on a goroutine of its own, which ends with it.
func onThread(fn func() error) error {
	goruntime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("open this thread's network namespace: %w", err)
	}
	defer orig.Close()
	err = fn()
	if netns.Set(orig) == nil {
		goruntime.UnlockOSThread()
	}
	return err
}
