package engine

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/config"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot/filepool"
	"github.com/strata-project/strata/internal/snapshot/overlay"
)

// DedupeReport is what `strata system dedupe` did.
type DedupeReport struct {
	Snapshots int // committed snapshots passed over
	filepool.Stats
	// Rekeyed is the pool entries of an earlier content hash moved to
	// their current key (filepool.Rekey), so that files unpacked now are
	// linked to them; Merged is those of them whose current key another
	// entry of the same file held, whose snapshot files were linked to it.
	Rekeyed, Merged int
}

// Dedupe pools the files of every committed snapshot already in the store
// (those committed before dedupe was on, or by an older Strata), as each
// commit does now, after moving the pool entries an older Strata keyed
// with another content hash to their current key: see package filepool.
// It is idempotent: files already pooled are skipped unread, so a second run saves nothing. It holds the gc
// lock shared, so gc does not remove a snapshot under it; a kill -9 leaves
// nothing the next strata command does not finish (filepool.Recover).
func (e *Engine) Dedupe(ctx context.Context) (DedupeReport, error) {
	var rep DedupeReport
	o, ok := e.Snap.(*overlay.Snapshotter)
	if e.pool == nil || !ok {
		return rep, fmt.Errorf("dedupe needs the overlay storage driver (this store uses %s): %w", e.driver, errdefs.ErrFailedPrecondition)
	}
	if !e.cfg.DedupeOn() {
		return rep, fmt.Errorf("dedupe is off for this store (%s in %s, or %s=0): %w", `"dedupe": false`, config.File, config.DedupeEnv, errdefs.ErrFailedPrecondition)
	}
	unlock, err := e.lock(ctx, false)
	if err != nil {
		return rep, err
	}
	defer unlock()
	rk, err := e.pool.Rekey(ctx)
	if err != nil {
		return rep, err
	}
	rep.Rekeyed, rep.Merged = rk.Moved+rk.Merged(), rk.Merged()
	rep.Snapshots, rep.Stats, err = o.DedupeCommitted(ctx, rk)
	if err == nil && rep.Merged > 0 {
		// The merged entries' files were relinked: the old entries are
		// unused now, and what the report says is saved is freed.
		_, err = e.pool.Prune(ctx, false)
	}
	return rep, err
}
