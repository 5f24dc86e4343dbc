package build

import (
	"context"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// prefetch asks the kernel to read every regular file under dir into the
// page cache (POSIX_FADV_WILLNEED starts the reads and returns), in walk
// order, so that the tar writer that follows, which reads one file at a
// time, finds most of them there instead of waiting for each from disk.
// Files a step just wrote are usually cached already; files it linked from
// an earlier layer, or that memory pressure evicted, are not. It stops
// when ctx ends; errors only mean less was prefetched.
func prefetch(ctx context.Context, dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if ctx.Err() != nil {
			return filepath.SkipAll
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOATIME, 0)
		if err != nil {
			fd, err = unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil
			}
		}
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
		unix.Close(fd)
		return nil
	})
}
