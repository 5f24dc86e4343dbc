package mount

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// UnmountAll unmounts target until nothing is mounted there any more (the
// kernel answers EINVAL), undoing a stack of mounts. flags are umount2(2)
// flags such as unix.MNT_DETACH. A target that does not exist or is not a
// mount point is not an error.
//
// A busy mount is retried for about a second and then detached
// (MNT_DETACH): it disappears from the tree at once and the kernel frees it
// when its last user goes.
func UnmountAll(target string, flags int) error {
	if target == "" {
		return nil
	}
	// A stack deeper than this is a loop (something keeps mounting).
	for range 1024 {
		err := unmount(target, flags)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after 1024 unmounts", target)
}

// unmount unmounts target once, retrying EBUSY and then detaching.
func unmount(target string, flags int) error {
	var err error
	for range 20 {
		err = unix.Unmount(target, flags)
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EINTR) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	if flags&unix.MNT_DETACH == 0 {
		return unix.Unmount(target, flags|unix.MNT_DETACH)
	}
	return err
}
