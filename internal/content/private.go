package content

import (
	"fmt"
	"os"
	"path/filepath"
)

// privateMode is the mode of a store root: only root may enter it. A
// store holds every layer and config (which may carry secrets), and while
// containers run it holds their mounted root filesystems, in which a
// container's root can plant setuid binaries; a host user who could walk
// into the root could read the former and run the latter. Docker's data
// root is 0710 for the same reason (the group bit serves user-namespace
// remapping, which Strata does not do).
const privateMode = 0o700

// makePrivate creates dir if needed and makes it enterable by its owner
// only, repairing stores made by earlier versions (0711 or 0755). It
// refuses a shared directory such as /tmp (sticky or world-writable): a
// store needs a directory of its own, and chmod-ing a shared one would
// lock its other users out.
func makePrivate(dir string) error {
	if err := os.MkdirAll(dir, privateMode); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	mode := fi.Mode()
	if !mode.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if (mode&os.ModeSticky != 0 || mode.Perm()&0o002 != 0) && sharedDir(dir) {
		return fmt.Errorf("%s is a shared directory (mode %04o): give the store a directory of its own, such as %s/strata", dir, mode.Perm(), dir)
	}
	if mode.Perm() != privateMode {
		if err := os.Chmod(dir, privateMode); err != nil {
			return fmt.Errorf("make %s private: %w", dir, err)
		}
	}
	return nil
}

// sharedDir reports whether dir holds entries but no store (no blobs/).
func sharedDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "blobs")); err == nil {
		return false
	}
	f, err := os.Open(dir)
	if err != nil {
		return true
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}
