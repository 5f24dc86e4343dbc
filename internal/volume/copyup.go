package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/proc"
	"github.com/strata-project/strata/internal/snapshot/native"
)

const copyPrefix = ".copy-"

// CopyUp is docker's copy of an image's content into an empty volume: when
// volume name's data is empty and src (the image's directory at the
// mount's destination, in the container's mounted rootfs) is a directory,
// the tree at src, with its owners, modes and times, becomes the volume's
// data. The copy is made beside _data and renamed over it (rename(2)
// replaces only an empty directory), so a kill leaves the volume empty or
// whole, never half-filled; the next use copies again. A volume that is
// not empty, or mounted by its options (tmpfs, bind), is left alone.
func (s *Store) CopyUp(ctx context.Context, name, src string) error {
	v, err := s.Get(name)
	if err != nil {
		return err
	}
	if v.Mounted() {
		return nil
	}
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return nil // nothing in the image there: runc makes the mount point
	}
	if !emptyDir(v.Mountpoint) {
		return nil
	}
	s.cleanCopies(name)
	staging := filepath.Join(s.path(name), stagingName(copyPrefix))
	defer os.RemoveAll(staging)
	if err := native.CopyTree(ctx, src, staging); err != nil {
		return fmt.Errorf("copy the image's %s into volume %s: %w", filepath.Base(src), name, err)
	}
	// rename(2) itself: os.Rename refuses any existing directory.
	if err := unix.Rename(staging, v.Mountpoint); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return nil // filled meanwhile by another container: keep that
		}
		return fmt.Errorf("copy the image's content into volume %s: %w", name, err)
	}
	return nil
}

// cleanCopies removes copies into volume name that a dead process left.
func (s *Store) cleanCopies(name string) {
	ents, _ := os.ReadDir(s.path(name))
	for _, e := range ents {
		if pid, ok := stagingOwner(e.Name(), copyPrefix); ok && !proc.Alive(pid) {
			_ = os.RemoveAll(filepath.Join(s.path(name), e.Name()))
		}
	}
}

func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}
