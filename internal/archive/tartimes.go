package archive

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// TarTime is the mtime a tar written with o records for an entry whose
// mtime is ts: whole seconds (the fraction dropped), and no later than
// o.SourceDateEpoch.
func (o WriteOptions) TarTime(ts unix.Timespec) unix.Timespec {
	m := time.Unix(ts.Sec, 0)
	if e := o.SourceDateEpoch; e != nil && m.After(*e) {
		m = e.Truncate(time.Second)
	}
	return unix.Timespec{Sec: m.Unix()}
}

// SetTarTimes gives every entry under root (not root itself) the mtime a
// tar of it written with o records (TarTime), so the tree is the one its
// layer unpacks to. An inode with links outside the tree is left as it is:
// it is another tree's file too.
func SetTarTimes(ctx context.Context, root string, o WriteOptions) error {
	type entry struct {
		path  string
		ino   uint64
		nlink uint64
		mtime unix.Timespec
	}
	var todo []entry
	links := map[uint64]uint64{} // inode → its links in the tree, of inodes with several
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if !dir && st.Nlink > 1 {
			links[st.Ino]++
		}
		if want := o.TarTime(st.Mtim); want != st.Mtim {
			todo = append(todo, entry{p, st.Ino, uint64(st.Nlink), want})
			if dir {
				todo[len(todo)-1].nlink = 0
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set tar times under %s: %w", root, err)
	}
	for _, e := range todo {
		if e.nlink > 1 && links[e.ino] < e.nlink {
			continue
		}
		ts := []unix.Timespec{e.mtime, e.mtime}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, e.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set tar times: %s: %w", e.path, err)
		}
	}
	return nil
}
