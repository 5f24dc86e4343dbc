package storage

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot"
)

// OwnChanges is implemented by a Driver whose snapshot directories hold
// only the snapshot's own changes, its lower layers being stacked at mount
// time (overlay): a snapshot filled without its parent can then be put on
// top of it afterwards.
type OwnChanges interface {
	OwnChangesOnly() bool
}

// CanCommitOnto tells whether CommitOnto works with this driver.
func (s *Snapshotter) CanCommitOnto() bool {
	d, ok := s.driver.(OwnChanges)
	return ok && d.OwnChangesOnly()
}

// CommitOnto commits the active snapshot key, which was prepared with no
// parent, as name on top of parent (a committed snapshot; "" keeps it a
// base). Layers of an image are so unpacked at once, each into its own
// snapshot, and stacked in chain order as their parents are committed. It
// fails with ErrNotImplemented unless CanCommitOnto.
func (s *Snapshotter) CommitOnto(ctx context.Context, name, key, parent string, opts ...snapshot.Opt) error {
	if !s.CanCommitOnto() {
		return fmt.Errorf("commit %q onto %q: the snapshotter copies its parents: %w", key, parent, errdefs.ErrNotImplemented)
	}
	if name == "" {
		return fmt.Errorf("commit %q with an empty name: %w", key, errdefs.ErrInvalidArgument)
	}
	err := s.update(func(tx *bolt.Tx) error { return commitTx(tx, name, key, &parent, opts) })
	if err != nil {
		return fmt.Errorf("commit %q as %q onto %q: %w", key, name, parent, err)
	}
	return nil
}
