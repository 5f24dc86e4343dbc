package layer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot"
)

// stacker is a snapshotter whose snapshots hold only their own changes, so
// a layer can be unpacked before its parent is there (overlay).
type stacker interface {
	Snapshotter
	CanCommitOnto() bool
	CommitOnto(ctx context.Context, name, key, parent string, opts ...snapshot.Opt) error
	UpperDir(ctx context.Context, key string) (string, error)
}

// CanStage tells whether sn can unpack a layer before its parent (Stage).
func CanStage(sn Snapshotter) bool {
	s, ok := sn.(stacker)
	return ok && s.CanCommitOnto() && os.Geteuid() == 0
}

// Staged is a layer unpacked into a snapshot of its own, not yet stacked on
// its parent: an active snapshot under an ExtractKey, so that what a killed
// process left is removed like any other unfinished unpack.
type Staged struct {
	sn      stacker
	key     string
	diffID  digest.Digest
	size    int64
	rootSet bool
}

// Stage reads the uncompressed layer tar r to its end and unpacks it on its
// own (archive.ApplyOverlay) into a new snapshot without a parent, checking
// opts.Expect; Commit then puts it on its parent. Layers of one image can
// so be unpacked at once and stacked in chain order. A layer that cannot be
// applied without its lower layers fails with an error wrapping
// archive.ErrNeedsLower (r is then not read to its end): unpack it with
// Unpack once its parent is there. sn must satisfy CanStage.
func Stage(ctx context.Context, sn Snapshotter, r io.Reader, opts UnpackOptions) (*Staged, error) {
	st, ok := sn.(stacker)
	if !ok || !st.CanCommitOnto() {
		return nil, fmt.Errorf("stage a layer: the snapshotter copies its parents: %w", errdefs.ErrNotImplemented)
	}
	key := ExtractKey()
	if _, err := st.Prepare(ctx, key, "", snapshot.WithLabels(map[string]string{"strata.extract": "1"})); err != nil {
		return nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	s := &Staged{sn: st, key: key}
	ok = false
	defer func() {
		if !ok {
			s.Discard(ctx)
		}
	}()
	upper, err := st.UpperDir(ctx, key)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	tee := io.TeeReader(r, h)
	aopts := archive.ApplyOptions{Index: opts.Index}
	done, err := noteFiles(ctx, sn, key, upper, &aopts)
	if err != nil {
		return nil, err
	}
	u, err := archive.ApplyOverlay(ctx, upper, tee, aopts)
	done()
	if err != nil {
		return nil, err
	}
	// The tar reader stops at the end-of-archive marker; hash the rest.
	m, err := io.Copy(io.Discard, tee)
	if err != nil {
		return nil, err
	}
	s.diffID = digest.NewDigest(digest.SHA256, h)
	s.size = u.Size + m
	s.rootSet = u.RootSet
	if opts.Expect != "" && opts.Expect != s.diffID {
		return nil, fmt.Errorf("layer diffID mismatch (got %s, want %s): %w", s.diffID, opts.Expect, errdefs.ErrDataCorrupt)
	}
	ok = true
	return s, nil
}

// DiffID is the staged layer's diffID.
func (s *Staged) DiffID() digest.Digest { return s.diffID }

// Commit puts the staged layer on parent (a committed chain ID, "" for a
// base layer) and commits it under the resulting chain ID, or, if another
// process committed that chain meanwhile, drops this copy and uses that
// one. The root takes the parent root's owner and mode unless the layer
// set them, as Unpack's snapshot would. On error the staged snapshot is
// removed.
func (s *Staged) Commit(ctx context.Context, parent digest.Digest) (Unpacked, error) {
	if s.key == "" {
		return Unpacked{}, fmt.Errorf("staged layer %s already committed or discarded: %w", s.diffID, errdefs.ErrFailedPrecondition)
	}
	defer s.Discard(ctx)
	chainID := ChainID(parent, s.diffID)
	if parent != "" {
		if !s.rootSet {
			if err := s.rootFromParent(ctx, parent); err != nil {
				return Unpacked{}, err
			}
		}
	}
	err := s.sn.CommitOnto(ctx, chainID.String(), s.key, parent.String())
	if err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return Unpacked{}, fmt.Errorf("commit snapshot %s: %w", chainID, err)
	}
	if err == nil {
		s.key = "" // it is the chain's snapshot now
	}
	return Unpacked{DiffID: s.diffID, ChainID: chainID, Size: s.size}, nil
}

// rootFromParent gives the staged root the parent root's owner and mode.
func (s *Staged) rootFromParent(ctx context.Context, parent digest.Digest) error {
	pdir, err := s.sn.UpperDir(ctx, parent.String())
	if err != nil {
		return fmt.Errorf("parent %s: %w", parent, err)
	}
	upper, err := s.sn.UpperDir(ctx, s.key)
	if err != nil {
		return err
	}
	fi, err := os.Stat(pdir)
	if err != nil {
		return fmt.Errorf("parent %s: %w", parent, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return os.Chmod(upper, fi.Mode())
}

// Discard removes the staged snapshot unless it was committed.
func (s *Staged) Discard(ctx context.Context) {
	if s.key != "" {
		_ = s.sn.Remove(context.WithoutCancel(ctx), s.key)
		s.key = ""
	}
}
