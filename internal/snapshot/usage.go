package snapshot

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
)

// DiskUsage adds up the blocks and inodes under dir as du does, counting a
// hardlinked inode once. An entry removed during the walk is passed over
// (a cache mount a build is changing); dir itself must be there.
func DiskUsage(ctx context.Context, dir string) (Usage, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var u Usage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		in := inode{uint64(st.Dev), st.Ino}
		if seen[in] {
			return nil
		}
		seen[in] = true
		u.Inodes++
		u.Size += st.Blocks * 512
		return nil
	})
	return u, err
}
