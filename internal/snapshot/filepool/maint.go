package filepool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// walkEntries calls fn for every pool entry with its lstat.
func (p *Pool) walkEntries(ctx context.Context, fn func(path, name string, st *unix.Stat_t) error) error {
	shards, err := os.ReadDir(filepath.Join(p.root, "sha256"))
	if err != nil {
		return err
	}
	for _, sh := range shards {
		dir := filepath.Join(p.root, "sha256", sh.Name())
		names, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			path := filepath.Join(dir, e.Name())
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return err
			}
			if err := fn(path, e.Name(), &st); err != nil {
				return err
			}
		}
	}
	return nil
}

// PruneReport is what Prune removed (or would remove).
type PruneReport struct {
	Files int   // pool entries no snapshot links to
	Bytes int64 // their data blocks
	Temp  int   // leftovers of dead dedupe passes
}

// Prune removes the pool entries whose link count is 1 (the pool's own
// link: no snapshot holds the file any more) and finishes what dead passes
// left (Recover). With dryRun it only counts. A pass linking an entry at the
// same time as Prune removes it still ends with a whole file in its
// snapshot (its link or its own copy); only the sharing is lost.
func (p *Pool) Prune(ctx context.Context, dryRun bool) (PruneReport, error) {
	var rep PruneReport
	if !dryRun {
		n, err := p.Recover()
		rep.Temp = n
		if err != nil {
			return rep, err
		}
	}
	err := p.walkEntries(ctx, func(path, _ string, st *unix.Stat_t) error {
		if st.Nlink != 1 {
			return nil
		}
		rep.Files++
		rep.Bytes += st.Blocks * 512
		if dryRun {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("prune file pool: %w", err)
	}
	return rep, nil
}

// Usage is the pool's size: its entries and their data blocks, each
// counted once however many snapshots link to it.
type Usage struct {
	Files int
	Bytes int64
	// Links is the snapshot links to pool entries (link counts less the
	// pool's own).
	Links int64
	// Shared is the entries more than one snapshot path links to, and
	// Saved the data blocks that spares: what the snapshots' files would
	// take if each path had its own copy, less what the entries take.
	// (A snapshot's size, measured as du measures its directory, counts
	// each of its files whole; the layers' sizes added up exceed the
	// disk they take by Saved.)
	Shared int
	Saved  int64
}

// Usage adds up the pool.
func (p *Pool) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := p.walkEntries(ctx, func(_, _ string, st *unix.Stat_t) error {
		links := int64(st.Nlink) - 1
		u.Files++
		u.Bytes += st.Blocks * 512
		u.Links += links
		if links > 1 {
			u.Shared++
			u.Saved += (links - 1) * st.Blocks * 512
		}
		return nil
	})
	return u, err
}

// Inodes returns the inode numbers of the pool's entries. A tar writer
// walking snapshots or a merged overlay (which reports a lower file's own
// inode number and link count) uses it to tell a pooled file, whose other
// links are other snapshots' files, from a hard link of the layer itself.
func (p *Pool) Inodes(ctx context.Context) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	err := p.walkEntries(ctx, func(_, _ string, st *unix.Stat_t) error {
		out[st.Ino] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list file pool: %w", err)
	}
	return out, nil
}

// Lookup returns Inodes as a function for archive.WriteOptions.Shared,
// reading the pool on its first call (most tars never ask), and again when
// asked about an inode it does not hold if entries came or went since (a
// build's steps pool files as they commit, while its tars are written).
func (p *Pool) Lookup(ctx context.Context) func(ino uint64) bool {
	var (
		mu   sync.Mutex
		set  map[uint64]bool
		read string // the shard directories' mtimes when set was read
	)
	return func(ino uint64) bool {
		mu.Lock()
		defer mu.Unlock()
		if set[ino] {
			return true
		}
		if v := p.version(); set == nil || v != read {
			set, _ = p.Inodes(ctx)
			read = v
		}
		return set[ino]
	}
}

// version is the mtimes of the pool's shard directories, which change
// whenever an entry is added or removed.
func (p *Pool) version() string {
	var b strings.Builder
	dirs, _ := filepath.Glob(filepath.Join(p.root, "sha256", "*"))
	for _, d := range append([]string{filepath.Join(p.root, "sha256")}, dirs...) {
		var st unix.Stat_t
		if unix.Lstat(d, &st) == nil {
			fmt.Fprintf(&b, "%s %d.%d\n", filepath.Base(d), st.Mtim.Sec, st.Mtim.Nsec)
		}
	}
	return b.String()
}

// Check re-hashes every pool entry. Problems are entries whose content or
// metadata no longer match their key: something wrote to a pooled file in
// place, and every snapshot linking to it shows the change. Notes are
// harmless: entries no snapshot uses and leftovers of dead passes, which
// Prune (gc) removes, and entries of an earlier content hash, which Rekey
// moves.
func (p *Pool) Check(ctx context.Context) (problems, notes []string, err error) {
	unused, legacy := 0, 0
	buf := make([]byte, 256<<10)
	err = p.walkEntries(ctx, func(path, name string, st *unix.Stat_t) error {
		if st.Nlink == 1 {
			unused++
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			problems = append(problems, fmt.Sprintf("file pool entry %s is not a regular file", path))
			return nil
		}
		f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, kind, err := entryKey(f, name, st, buf)
		if err != nil {
			return err
		}
		if kind == legacyKey {
			legacy++
		}
		if kind == noKey {
			problems = append(problems, fmt.Sprintf("file pool entry %s changed after it was pooled (something wrote to a shared file in place); the %d snapshot file(s) linked to it show the change: remove the images that use them and pull or import them again", path, st.Nlink-1))
		}
		return nil
	})
	if err != nil {
		return problems, notes, fmt.Errorf("check file pool: %w", err)
	}
	if unused > 0 {
		notes = append(notes, fmt.Sprintf("%d file pool entr(ies) no snapshot uses (gc removes them)", unused))
	}
	if legacy > 0 {
		notes = append(notes, fmt.Sprintf("%d file pool entr(ies) keyed by an earlier content hash, which files unpacked now are not linked to (strata system dedupe moves them)", legacy))
	}
	left, lerr := p.leftovers()
	if lerr == nil && len(left) > 0 {
		notes = append(notes, fmt.Sprintf("%d leftover(s) of a dedupe cut short (the next strata command restores the directory times and removes them)", len(left)))
	}
	return problems, notes, nil
}
