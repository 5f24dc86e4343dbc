package filepool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Moving the entries of an earlier content hash to their current key. A
// store pooled by an older Strata has its entries under keys with BLAKE3
// or SHA-256 content digests; files unpacked now are keyed with
// ContentHash and never find them, so a new image with the same files as
// an old one would store them again. Rekey (run by `strata system dedupe`)
// renames each such entry to its current key, which changes nothing for
// the snapshots linked to it (a name in the pool is not part of any
// file). Where the current key is already taken by an entry with the same
// bytes and metadata (an image pulled since the upgrade), the old entry's
// snapshot files are relinked to that one by Rekeyed.Dedupe, and the old
// entry, then unused, is removed by Prune.

// Rekeyed is what Rekey did: the entries it moved, and those whose current
// key another entry of the same file holds already (Merged).
type Rekeyed struct {
	p     *Pool
	Moved int
	merge map[uint64]string // a merged entry's inode → the current key of its file
}

// Merged is how many entries Rekey found under their current key already.
func (rk *Rekeyed) Merged() int { return len(rk.merge) }

// Rekey moves every entry made under an earlier content hash to its key
// under ContentHash (see above). An entry that matches neither its old key
// nor any other (something wrote to it: Check reports it) is left as it is.
func (p *Pool) Rekey(ctx context.Context) (*Rekeyed, error) {
	rk := &Rekeyed{p: p, merge: map[uint64]string{}}
	sfd, err := unix.Open(filepath.Join(p.root, "sha256"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rekey file pool: %w", err)
	}
	defer unix.Close(sfd)
	buf := make([]byte, 256<<10)
	err = p.walkEntries(ctx, func(path, name string, st *unix.Stat_t) error {
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil
		}
		k, err := newKeyOf(path, name, st, buf)
		if err != nil || k == "" {
			return err
		}
		shard, entry := entryPath(k)
		if err := unix.Mkdirat(sfd, shard, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		err = unix.Renameat2(unix.AT_FDCWD, path, sfd, entry, unix.RENAME_NOREPLACE)
		if err == nil {
			rk.Moved++
			return nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return err
		}
		var est unix.Stat_t
		if err := unix.Fstatat(sfd, entry, &est, unix.AT_SYMLINK_NOFOLLOW); err != nil || est.Ino == st.Ino || !sameFile(&est, st) {
			return nil
		}
		if same, err := sameContent(path, sfd, entry, st.Size); err != nil || !same {
			return err
		}
		rk.merge[st.Ino] = k
		return nil
	})
	if err != nil {
		return rk, fmt.Errorf("rekey file pool: %w", err)
	}
	return rk, nil
}

// newKeyOf returns the key under ContentHash of the entry at path
// (named name, lstat st) if it is an entry of an earlier content hash
// whose content still matches its name, else "".
func newKeyOf(path, name string, st *unix.Stat_t, buf []byte) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", nil // Prune removed it meanwhile
		}
		return "", err
	}
	defer f.Close()
	k, kind, err := entryKey(f, name, st, buf)
	if err != nil || kind != legacyKey {
		return "", err
	}
	return k, nil
}

// keyKind is what an entry's name is to its content.
type keyKind int

const (
	noKey     keyKind = iota // neither: the entry changed since (Check reports it)
	thisKey                  // its key under ContentHash
	legacyKey                // its key under an earlier content hash
)

// entryKey hashes the pool entry open as f (named name, lstat st) and
// returns its key under ContentHash and what its name is to it.
func entryKey(f *os.File, name string, st *unix.Stat_t, buf []byte) (string, keyKind, error) {
	k, ok, err := keyOf(f, st, buf)
	if err != nil || !ok {
		return "", noKey, err
	}
	if k == name {
		return k, thisKey, nil
	}
	for _, h := range legacyContentHashes {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", noKey, err
		}
		old, ok, err := keyWith(f, st, buf, h)
		if err != nil {
			return "", noKey, err
		}
		if ok && old == name {
			return k, legacyKey, nil
		}
	}
	return k, noKey, nil
}

// Dedupe is Pool.Dedupe of a tree without notes that also relinks the
// tree's files of the entries Rekey found under their current key to the
// entry there.
func (rk *Rekeyed) Dedupe(ctx context.Context, dir string) (Stats, error) {
	return rk.p.dedupe(ctx, &pass{root: dir, merge: rk.merge})
}
