package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/snapshot"
)

// The cache mount dir holds RUN --mount=type=cache directories between
// builds (the engine's <root>/build-cache-mounts, build.Options.CacheMountDir):
//
//	<dir>/
//	    <id>/         what the RUNs left in the cache
//	    <id>.lock     flock: shared, or exclusive for sharing=locked|private;
//	                  a prune holds it exclusively while it takes <id>/ away
//	    <id>-1/       a second private copy while <id> was in use
//	    .create.lock  flock: one build at a time makes a missing <id>/
//	    .new-*/       an <id>/ being made (renamed into place when seeded)
//	    .del-*/       an <id>/ a prune renamed away and is removing
//
// Each directory's last use and size are in the build cache's records
// (Mount), so that `system df` and `builder prune` treat cache mounts and
// layers as one build cache.

// MountEntries lists the cache mount directories under dir with their
// records, says which a running build holds, and measures those whose
// size is stale (a use since the last measurement), remembering the new
// sizes. It also returns the records whose directory is gone.
func (s *Store) MountEntries(ctx context.Context, dir string) ([]Entry, []Mount, error) {
	recs, err := s.Mounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	var out []Entry
	var sized []Mount
	seen := map[string]bool{}
	for _, ent := range ents {
		name := ent.Name()
		if !ent.IsDir() || strings.HasPrefix(name, ".del-") || strings.HasPrefix(name, ".new-") {
			continue // a prune's or a build's work in progress (or leftover)
		}
		seen[name] = true
		rec, ok := recs[name]
		if !ok {
			// Its builds died before their final commit (or it predates
			// the records): its mtime is the best guess of its last use.
			rec = Mount{Dir: name, ID: name}
			if fi, err := ent.Info(); err == nil {
				rec.Created, rec.LastUsed = fi.ModTime().UTC(), fi.ModTime().UTC()
			}
		}
		inUse := mountInUse(filepath.Join(dir, name+".lock"))
		if rec.Stale() || inUse {
			at := time.Now().UTC() // before the walk: a use during it makes the size stale again
			u, err := snapshot.DiskUsage(ctx, filepath.Join(dir, name))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // a prune took it away meanwhile
				}
				return nil, nil, fmt.Errorf("cache mount %s: measure: %w", name, err)
			}
			rec.Size = u.Size
			if !inUse {
				rec.SizedAt = at
				sized = append(sized, rec)
			}
		}
		out = append(out, Entry{
			ID: name, Type: TypeMount, Description: "cache mount id=" + rec.ID,
			Size: rec.Size, Created: rec.Created, LastUsed: rec.LastUsed, UsageCount: rec.UsageCount,
			InUse: inUse, mount: &rec,
		})
	}
	if err := s.SetMountSizes(ctx, sized); err != nil {
		return nil, nil, err
	}
	var stale []Mount
	for name, rec := range recs {
		if !seen[name] {
			stale = append(stale, rec)
		}
	}
	return out, stale, nil
}

// mountInUse says whether a build holds the lock file p (shared or
// exclusive). It takes and drops the lock at once; a sharing=private
// build that tries it in that instant uses another copy.
func mountInUse(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false // no build has locked it since the last prune
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	return errors.Is(err, unix.EWOULDBLOCK)
}

// removeMounts removes the cache mount directories of ents that no build
// holds now; it returns those it removed. For each it takes the lock
// exclusively without waiting (a build that took the mount since it was
// listed keeps it), renames the directory away and removes the lock file
// before letting go, so a waiting build makes both afresh. Only then are
// the records dropped (those of ents and stale), in one commit, and the
// renamed trees removed: a prune killed half-way leaves renamed trees
// (.del-*) and records with no directory, which the next prune removes,
// never a half-removed directory under its own name.
func (s *Store) removeMounts(ctx context.Context, dir string, ents []Entry, stale []Mount) ([]Entry, error) {
	var removed []Entry
	var trash []string
	recs := append([]Mount(nil), stale...)
	for _, ent := range ents {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		t, err := takeMount(dir, ent.ID)
		if err != nil {
			return removed, fmt.Errorf("remove cache mount %s: %w", ent.ID, err)
		}
		if t == "" {
			continue // in use, or another prune has it
		}
		trash = append(trash, t)
		removed = append(removed, ent)
		recs = append(recs, *ent.mount)
	}
	if err := s.DeleteMounts(ctx, recs); err != nil {
		return removed, err
	}
	for _, t := range trash {
		if err := os.RemoveAll(t); err != nil {
			return removed, fmt.Errorf("remove cache mount: %w", err)
		}
	}
	return removed, nil
}

// takeMount renames the cache mount directory name out of the way under
// its exclusive lock and removes the lock file; it returns the renamed
// path, or "" when a build holds the mount.
func takeMount(dir, name string) (string, error) {
	lockPath := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return "", nil
		}
		return "", err
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return "", err
	}
	if err := unix.Stat(lockPath, &now); err != nil || now.Ino != held.Ino || now.Dev != held.Dev {
		return "", nil // another prune removed it while this one opened it
	}
	trash, err := os.MkdirTemp(dir, ".del-")
	if err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(dir, name), filepath.Join(trash, name)); err != nil {
		os.Remove(trash)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	if err := os.Remove(lockPath); err != nil {
		return trash, err
	}
	return trash, nil
}

// cleanMountLeftovers removes what crashed prunes and builds left under
// dir: renamed trees (.del-*), and cache dirs half made (.new-*) when no
// build is making one. It returns the bytes freed.
func cleanMountLeftovers(ctx context.Context, dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var creating *os.File
	defer func() {
		if creating != nil {
			creating.Close()
		}
	}()
	var freed int64
	for _, ent := range ents {
		name := ent.Name()
		switch {
		case strings.HasPrefix(name, ".del-"):
		case strings.HasPrefix(name, ".new-"):
			if creating == nil {
				f, err := os.OpenFile(filepath.Join(dir, ".create.lock"), os.O_CREATE|os.O_RDWR, 0o600)
				if err != nil {
					return freed, err
				}
				creating = f
				if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
					return freed, nil // a build is making a cache dir: leave them
				}
			}
		default:
			continue
		}
		p := filepath.Join(dir, name)
		u, _ := snapshot.DiskUsage(ctx, p)
		if err := os.RemoveAll(p); err != nil {
			return freed, err
		}
		freed += u.Size
	}
	return freed, nil
}

// TidyMountDir removes the lock files of cache mounts that have no
// directory, and the cache mount dir itself once it holds nothing else.
// The caller holds the engine's gc lock exclusively, so no build runs (a
// build holds it shared while it can lock or make a cache mount).
func TidyMountDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	left := 0
	for _, ent := range ents {
		name := ent.Name()
		mount, isLock := strings.CutSuffix(name, ".lock")
		if isLock && !ent.IsDir() {
			if _, err := os.Lstat(filepath.Join(dir, mount)); errors.Is(err, fs.ErrNotExist) {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					return err
				}
				continue
			}
		}
		left++
	}
	if left == 0 {
		return os.Remove(dir)
	}
	return nil
}
