package engine

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/config"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/filepool"
)

// DedupeReport is what `strata system dedupe` did.
type DedupeReport struct {
	Snapshots int // committed snapshots passed over
	filepool.Stats
}

// Dedupe pools the files of every committed snapshot already in the store
// (those committed before dedupe was on, or by an older Strata), as each
// commit does now: see package filepool. It is idempotent: files already
// pooled are skipped unread, so a second run saves nothing. It holds the gc
// lock shared, so gc does not remove a snapshot under it; a kill -9 leaves
// nothing the next strata command does not finish (filepool.Recover).
func (e *Engine) Dedupe(ctx context.Context) (DedupeReport, error) {
	var rep DedupeReport
	o, ok := e.Snap.(interface {
		UpperDir(ctx context.Context, key string) (string, error)
	})
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
	var names []string
	if err := e.Snap.Walk(ctx, func(ctx context.Context, info snapshot.Info) error {
		if info.Kind == snapshot.KindCommitted {
			names = append(names, info.Name)
		}
		return nil
	}); err != nil {
		return rep, err
	}
	for _, name := range names {
		dir, err := o.UpperDir(ctx, name)
		if err != nil {
			continue // removed meanwhile
		}
		s, err := e.pool.Dedupe(ctx, dir, nil)
		rep.Snapshots++
		rep.Stats.Files += s.Files
		rep.Stats.Pooled += s.Pooled
		rep.Stats.Saved += s.Saved
		if err != nil {
			return rep, fmt.Errorf("dedupe snapshot %s: %w", name, err)
		}
	}
	return rep, nil
}
