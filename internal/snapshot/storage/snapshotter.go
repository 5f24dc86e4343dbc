package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/proc"
	"github.com/strata-project/strata/internal/snapshot"
)

// Snapshot is what a Driver is told about a snapshot.
type Snapshot struct {
	Kind snapshot.Kind
	// Dir is the snapshot's directory, <root>/snapshots/<id>, or the
	// new-* directory while it is being made. Its files live in Dir/fs.
	Dir string
	// Parents are the fs directories of the committed parent chain,
	// nearest first.
	Parents []string
}

// FS is the directory of the snapshot's own files.
func (s Snapshot) FS() string { return filepath.Join(s.Dir, "fs") }

// Work is the overlay work directory.
func (s Snapshot) Work() string { return filepath.Join(s.Dir, "work") }

// Driver is what differs between snapshotters.
type Driver interface {
	// Populate makes s.FS() (and anything else the driver needs) inside
	// s.Dir, which exists and is empty and not yet recorded.
	Populate(ctx context.Context, s Snapshot) error
	// Mounts returns the mounts of an active snapshot or a view.
	Mounts(s Snapshot) []mount.Mount
	// ParentDirs returns the directories s's lower layers are read from.
	ParentDirs(s Snapshot) []string
}

// Snapshotter implements snapshot.Snapshotter on a root directory, with a
// Driver for the parts that differ.
type Snapshotter struct {
	root   string
	driver Driver
}

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// New opens or creates a snapshotter root.
func New(root string, d Driver) (*Snapshotter, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, fmt.Errorf("create snapshot root: %w", err)
	}
	markTopDir(filepath.Join(root, "snapshots"))
	s := &Snapshotter{root: root, driver: d}
	if err := s.initDB(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the snapshotter's root directory.
func (s *Snapshotter) Root() string { return s.root }

func (s *Snapshotter) dir(id uint64) string {
	return filepath.Join(s.root, "snapshots", strconv.FormatUint(id, 10))
}

// load reads key's record and its parent chain as a Snapshot.
func (s *Snapshotter) load(key string) (record, Snapshot, error) {
	var r record
	var parents []record
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if r, err = get(tx, key); err != nil {
			return err
		}
		parents, err = chain(tx, r.info.Parent)
		return err
	})
	if err != nil {
		return record{}, Snapshot{}, err
	}
	return r, s.snapshot(r.id, r.info.Kind, parents), nil
}

func (s *Snapshotter) snapshot(id uint64, kind snapshot.Kind, parents []record) Snapshot {
	sn := Snapshot{Kind: kind, Dir: s.dir(id)}
	for _, p := range parents {
		sn.Parents = append(sn.Parents, filepath.Join(s.dir(p.id), "fs"))
	}
	return sn
}

func (s *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	var r record
	err := s.view(func(tx *bolt.Tx) (err error) {
		r, err = get(tx, key)
		return err
	})
	return r.info, err
}

func (s *Snapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	_, sn, err := s.load(key)
	if err != nil {
		return snapshot.Usage{}, err
	}
	u, err := snapshot.DiskUsage(ctx, sn.FS())
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	return u, nil
}

func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	r, sn, err := s.load(key)
	if err != nil {
		return nil, err
	}
	if r.info.Kind == snapshot.KindCommitted {
		return nil, fmt.Errorf("snapshot %q is committed and cannot be mounted; View or Prepare on it: %w", key, errdefs.ErrFailedPrecondition)
	}
	return s.driver.Mounts(sn), nil
}

func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindActive, key, parent, opts)
}

func (s *Snapshotter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshot.KindView, key, parent, opts)
}

func (s *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]mount.Mount, error) {
	if key == "" {
		return nil, fmt.Errorf("%s snapshot with an empty key: %w", kind, errdefs.ErrInvalidArgument)
	}
	// Check first without the write lock, so the common failures cost no
	// copy, then fill the directory with no lock held.
	var parents []record
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := get(tx, key); err == nil {
			return fmt.Errorf("snapshot %q: %w", key, errdefs.ErrAlreadyExists)
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		var err error
		parents, err = chain(tx, parent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", verb(kind), key, err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "snapshots"), fmt.Sprintf("new-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", verb(kind), key, err)
	}
	sn := s.snapshot(0, kind, parents)
	sn.Dir = tmp
	if err := s.driver.Populate(ctx, sn); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("%s %q: %w", verb(kind), key, err)
	}

	now := time.Now().UTC()
	r := record{info: snapshot.Info{Kind: kind, Name: key, Parent: parent, Created: now, Updated: now}}
	for _, o := range opts {
		o(&r.info)
	}
	r.info.Kind, r.info.Name, r.info.Parent = kind, key, parent
	var idDir string
	err = s.update(func(tx *bolt.Tx) error {
		again, err := chain(tx, parent)
		if err != nil {
			return err
		}
		if !slices.Equal(ids(again), ids(parents)) {
			return fmt.Errorf("parent %q was replaced while the snapshot was made; retry: %w", parent, errdefs.ErrConflict)
		}
		if r.id, err = tx.Bucket(bucketV1).NextSequence(); err != nil {
			return err
		}
		if err := put(tx, r); err != nil {
			return err
		}
		// An id whose transaction did not commit is handed out again, so
		// a directory already there is a leftover of that.
		idDir = s.dir(r.id)
		if err := removeIfExists(idDir); err != nil {
			return err
		}
		return os.Rename(tmp, idDir)
	})
	if err != nil {
		// If the rename happened and the commit failed, <id> is left for
		// the next maker of that id or Cleanup to delete under the lock:
		// deleting it here, unlocked, could hit another process's
		// snapshot that took the same id meanwhile.
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("%s %q: %w", verb(kind), key, err)
	}
	sn.Dir = idDir
	return s.driver.Mounts(sn), nil
}

func verb(k snapshot.Kind) string {
	if k == snapshot.KindView {
		return "view"
	}
	return "prepare"
}

func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if name == "" {
		return fmt.Errorf("commit %q with an empty name: %w", key, errdefs.ErrInvalidArgument)
	}
	err := s.update(func(tx *bolt.Tx) error { return commitTx(tx, name, key, nil, opts) })
	if err != nil {
		return fmt.Errorf("commit %q as %q: %w", key, name, err)
	}
	return nil
}

// commitTx turns the active snapshot key into the committed snapshot name,
// on its own parent, or with onto set on *onto (a snapshot prepared with no
// parent, see CommitOnto).
func commitTx(tx *bolt.Tx, name, key string, onto *string, opts []snapshot.Opt) error {
	r, err := get(tx, key)
	if err != nil {
		return err
	}
	if r.info.Kind != snapshot.KindActive {
		return fmt.Errorf("snapshot %q is %s, not active: %w", key, r.info.Kind, errdefs.ErrFailedPrecondition)
	}
	parent := r.info.Parent
	if onto != nil {
		if parent != "" {
			return fmt.Errorf("snapshot %q has a parent already (%q): %w", key, parent, errdefs.ErrFailedPrecondition)
		}
		parent = *onto
		if parent != "" {
			p, err := get(tx, parent)
			if err != nil {
				return fmt.Errorf("parent: %w", err)
			}
			if p.info.Kind != snapshot.KindCommitted {
				return fmt.Errorf("parent %q is %s, not committed: %w", parent, p.info.Kind, errdefs.ErrFailedPrecondition)
			}
		}
	}
	if _, err := get(tx, name); err == nil {
		return fmt.Errorf("snapshot %q: %w", name, errdefs.ErrAlreadyExists)
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	now := time.Now().UTC()
	c := record{id: r.id, info: snapshot.Info{Labels: r.info.Labels, Created: now, Updated: now}}
	for _, o := range opts {
		o(&c.info)
	}
	c.info.Kind, c.info.Name, c.info.Parent = snapshot.KindCommitted, name, parent
	sb, err := snapshotsBucket(tx)
	if err != nil {
		return err
	}
	if err := sb.DeleteBucket([]byte(key)); err != nil {
		return err
	}
	return put(tx, c)
}

func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var id uint64
	err := s.update(func(tx *bolt.Tx) error {
		r, err := get(tx, key)
		if err != nil {
			return err
		}
		child, err := hasChildren(tx, key)
		if err != nil {
			return err
		}
		if child != "" {
			return fmt.Errorf("snapshot %q has children (%q); remove them first: %w", key, child, errdefs.ErrFailedPrecondition)
		}
		id = r.id
		sb, err := snapshotsBucket(tx)
		if err != nil {
			return err
		}
		return sb.DeleteBucket([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	// The record is gone; a crash from here on leaves a directory Cleanup
	// deletes.
	if err := s.removeDir(strconv.FormatUint(id, 10)); err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	return nil
}

// removeDir renames snapshots/<name> out of the way and deletes it, so that
// a half-deleted directory is never mistaken for a snapshot.
func (s *Snapshotter) removeDir(name string) error {
	dir := filepath.Join(s.root, "snapshots", name)
	rm := filepath.Join(s.root, "snapshots", "rm-"+name)
	if err := removeIfExists(rm); err != nil {
		return err
	}
	if err := os.Rename(dir, rm); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(rm)
}

func (s *Snapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	var rs []record
	err := s.view(func(tx *bolt.Tx) (err error) {
		rs, err = all(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("walk snapshots: %w", err)
	}
	for _, r := range rs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ctx, r.info); err != nil {
			return err
		}
	}
	return nil
}

func (s *Snapshotter) UpperDir(ctx context.Context, key string) (string, error) {
	r, sn, err := s.load(key)
	if err != nil {
		return "", err
	}
	if r.info.Kind == snapshot.KindView {
		return "", fmt.Errorf("snapshot %q is a view and has no upper dir: %w", key, errdefs.ErrFailedPrecondition)
	}
	return sn.FS(), nil
}

func (s *Snapshotter) ParentDirs(ctx context.Context, key string) ([]string, error) {
	_, sn, err := s.load(key)
	if err != nil {
		return nil, err
	}
	return s.driver.ParentDirs(sn), nil
}

func (s *Snapshotter) Cleanup(ctx context.Context) error {
	mounted, err := mount.MountedUnder(s.root)
	if err != nil {
		return fmt.Errorf("clean up snapshots: %w", err)
	}
	var errs []error
	for _, m := range mounted {
		if err := mount.UnmountAll(m, 0); err != nil {
			errs = append(errs, err)
		}
	}

	// Decide under the write lock, so that no other process is between
	// renaming a directory to <id> and committing its record.
	var remove []string
	err = s.update(func(tx *bolt.Tx) error {
		rs, err := all(tx)
		if err != nil {
			return err
		}
		kinds := map[string]snapshot.Kind{}
		for _, r := range rs {
			kinds[strconv.FormatUint(r.id, 10)] = r.info.Kind
		}
		ents, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := e.Name()
			switch {
			case isID(name):
				kind, ok := kinds[name]
				if !ok {
					// Renamed now, so the id can be handed out again
					// before the directory is gone.
					rm := "rm-" + name
					if err := removeIfExists(filepath.Join(s.root, "snapshots", rm)); err != nil {
						return err
					}
					if err := os.Rename(filepath.Join(s.root, "snapshots", name), filepath.Join(s.root, "snapshots", rm)); err != nil {
						return err
					}
					remove = append(remove, rm)
				} else if kind == snapshot.KindCommitted {
					if _, err := os.Lstat(filepath.Join(s.root, "snapshots", name, "work")); err == nil {
						remove = append(remove, filepath.Join(name, "work"))
					}
				}
			case strings.HasPrefix(name, "rm-"):
				remove = append(remove, name)
			case strings.HasPrefix(name, "new-"):
				if !makerAlive(name) {
					remove = append(remove, name)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clean up snapshots: %w", err)
	}
	for _, r := range remove {
		if err := os.RemoveAll(filepath.Join(s.root, "snapshots", r)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up snapshots: %w", err)
	}
	return nil
}

func isID(name string) bool {
	_, err := strconv.ParseUint(name, 10, 64)
	return err == nil
}

// makerAlive reports whether the process that is making new-<pid>-* runs.
func makerAlive(name string) bool {
	pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, "new-"), "-")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	return proc.Alive(pid)
}

func (s *Snapshotter) Close() error { return nil }
