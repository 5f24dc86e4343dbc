package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/filepool"
	"github.com/strata-project/strata/internal/snapshot/storage"
)

// Snapshotter is the overlay snapshotter. Its methods are storage's, but
// for Commit and CommitOnto, which dedupe first when Pool is set.
type Snapshotter struct {
	*storage.Snapshotter
	// Pool, if set, receives the files of every snapshot as it is
	// committed (filepool.Dedupe on its upper dir, before the record says
	// committed): pull, load, import and build all commit through here.
	// Nothing writes into a committed upper dir, and a container's writes
	// to a lower file are copied up first, so shared inodes never change.
	Pool *filepool.Pool

	// hashes holds, per active snapshot key, the digests of the files
	// written into it as they were written (FileHashes), for Commit.
	hashes sync.Map // key → *filepool.Hashes
}

// FileHashes returns the set into which whoever writes the files of the
// active snapshot key (a layer being unpacked) notes their digests as it
// writes them, so that Commit pools them without reading them again; nil
// without a Pool. Commit and Remove drop the set.
func (s *Snapshotter) FileHashes(key string) *filepool.Hashes {
	if s.Pool == nil {
		return nil
	}
	h, _ := s.hashes.LoadOrStore(key, filepool.NewHashes())
	return h.(*filepool.Hashes)
}

// PoolAsWritten returns what pools the files of the active snapshot key
// as their digests are noted (filepool.Live, into FileHashes' set), for a
// writer that writes dir, the snapshot's upper dir itself; nil when dir is
// another (a mount of the snapshot: its upper dir must not change under
// it) or without a Pool. The caller closes it once done writing.
func (s *Snapshotter) PoolAsWritten(ctx context.Context, key, dir string) (*filepool.Live, error) {
	h := s.FileHashes(key)
	if h == nil {
		return nil, nil
	}
	upper, err := s.UpperDir(ctx, key)
	if err != nil || filepath.Clean(upper) != filepath.Clean(dir) {
		return nil, nil
	}
	return s.Pool.Live(upper, h)
}

// Remove removes the snapshot and the digests noted for it.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	s.hashes.Delete(key)
	return s.Snapshotter.Remove(ctx, key)
}

// Commit dedupes the snapshot's files into Pool, if set, and commits it.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if err := s.dedupe(ctx, key); err != nil {
		return err
	}
	return s.Snapshotter.Commit(ctx, name, key, opts...)
}

// CommitOnto dedupes the snapshot's files into Pool, if set, and commits
// it onto parent (storage.Snapshotter.CommitOnto).
func (s *Snapshotter) CommitOnto(ctx context.Context, name, key, parent string, opts ...snapshot.Opt) error {
	if err := s.dedupe(ctx, key); err != nil {
		return err
	}
	return s.Snapshotter.CommitOnto(ctx, name, key, parent, opts...)
}

func (s *Snapshotter) dedupe(ctx context.Context, key string) error {
	if s.Pool == nil {
		return nil
	}
	var known *filepool.Hashes
	if h, ok := s.hashes.LoadAndDelete(key); ok {
		known = h.(*filepool.Hashes)
	}
	info, err := s.Stat(ctx, key)
	if err != nil || info.Kind != snapshot.KindActive {
		return nil // the commit says what is wrong
	}
	upper, err := s.UpperDir(ctx, key)
	if err != nil {
		return nil
	}
	if _, err := s.Pool.Dedupe(ctx, upper, known); err != nil {
		return fmt.Errorf("commit %q: %w", key, err)
	}
	return nil
}

// New opens or creates an overlay snapshotter in root. It does not check
// that overlayfs works on root; call mount.OverlaySupported for that.
func New(root string) (*Snapshotter, error) {
	d := driver{}
	// index=off lets an upper dir be mounted again after a crash left its
	// work dir marked in use, and is only understood where the kernel has
	// the index feature.
	if _, err := os.Stat("/sys/module/overlay/parameters/index"); err == nil {
		d.indexOff = true
	}
	s, err := storage.New(root, d)
	if err != nil {
		return nil, fmt.Errorf("open overlay snapshotter: %w", err)
	}
	return &Snapshotter{Snapshotter: s}, nil
}

type driver struct {
	indexOff bool
}

func (d driver) Populate(ctx context.Context, s storage.Snapshot) error {
	if err := os.Mkdir(s.FS(), 0o755); err != nil {
		return err
	}
	if len(s.Parents) > 0 {
		// The merged root takes the upper dir's owner and mode.
		fi, err := os.Stat(s.Parents[0])
		if err != nil {
			return fmt.Errorf("parent dir: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if err := os.Lchown(s.FS(), int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := os.Chmod(s.FS(), fi.Mode()); err != nil {
			return err
		}
	}
	if s.Kind == snapshot.KindActive {
		return os.Mkdir(s.Work(), 0o711)
	}
	return nil
}

func (d driver) Mounts(s storage.Snapshot) []mount.Mount {
	if s.Kind == snapshot.KindActive {
		if len(s.Parents) == 0 {
			return []mount.Mount{{Type: "bind", Source: s.FS(), Options: []string{"rbind", "rw"}}}
		}
		var opts []string
		if d.indexOff {
			opts = append(opts, "index=off")
		}
		opts = append(opts, "workdir="+s.Work(), "upperdir="+s.FS(), "lowerdir="+strings.Join(s.Parents, ":"))
		return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
	}
	switch len(s.Parents) {
	case 0:
		return []mount.Mount{{Type: "bind", Source: s.FS(), Options: []string{"rbind", "ro"}}}
	case 1:
		return []mount.Mount{{Type: "bind", Source: s.Parents[0], Options: []string{"rbind", "ro"}}}
	}
	var opts []string
	if d.indexOff {
		opts = append(opts, "index=off")
	}
	opts = append(opts, "lowerdir="+strings.Join(s.Parents, ":"))
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}

func (d driver) ParentDirs(s storage.Snapshot) []string { return s.Parents }

// OwnChangesOnly: an overlay snapshot's fs is an upper dir, its parents are
// lower dirs given at mount time (storage.OwnChanges).
func (d driver) OwnChangesOnly() bool { return true }

// DedupeCommitted pools the files of every committed snapshot into the
// pool rk was made of (after its Rekey), as each commit does with Pool
// set: for those committed before dedupe was on (strata system dedupe).
// Files already pooled are skipped unread, but for those of the entries
// Rekey merged. It returns how many snapshots it passed over and what
// pooling did; a snapshot removed meanwhile is passed over.
func (s *Snapshotter) DedupeCommitted(ctx context.Context, rk *filepool.Rekeyed) (int, filepool.Stats, error) {
	var total filepool.Stats
	var names []string
	if err := s.Walk(ctx, func(ctx context.Context, info snapshot.Info) error {
		if info.Kind == snapshot.KindCommitted {
			names = append(names, info.Name)
		}
		return nil
	}); err != nil {
		return 0, total, err
	}
	n := 0
	for _, name := range names {
		dir, err := s.UpperDir(ctx, name)
		if err != nil {
			continue // removed meanwhile
		}
		st, err := rk.Dedupe(ctx, dir)
		n++
		total.Files += st.Files
		total.Pooled += st.Pooled
		total.Saved += st.Saved
		if err != nil {
			return n, total, fmt.Errorf("dedupe snapshot %s: %w", name, err)
		}
	}
	return n, total, nil
}
