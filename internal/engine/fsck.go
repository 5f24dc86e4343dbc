package engine

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/snapshot"
)

// FsckReport is what `strata system fsck` found.
type FsckReport struct {
	Blobs, Images, Layers, Snapshots int
	// Problems are damage: corrupt blobs, names pointing at missing or
	// invalid content, images whose layers are not unpacked.
	Problems []string
	// Notes are harmless leftovers that gc removes: unreferenced blobs,
	// abandoned ingests, half-unpacked snapshots of dead processes.
	Notes []string
}

// Clean reports whether nothing is damaged.
func (r FsckReport) Clean() bool { return len(r.Problems) == 0 }

// Fsck re-hashes every blob and checks every reference.
func (e *Engine) Fsck(ctx context.Context) (FsckReport, error) {
	var rep FsckReport
	blobs, problems, ingests, err := e.Content.Check(ctx)
	rep.Blobs, rep.Problems = blobs, problems
	if err != nil {
		return rep, err
	}
	committed := map[string]bool{}
	var leftovers []string // harmless, reclaimable
	if err := e.Snap.Walk(ctx, func(ctx context.Context, info snapshot.Info) error {
		rep.Snapshots++
		committed[info.Name] = info.Kind == snapshot.KindCommitted
		if pid, dead := layer.DeadExtract(info); dead {
			leftovers = append(leftovers, fmt.Sprintf("snapshot %s: left half-unpacked by process %d, which is gone (gc removes it)", info.Name, pid))
		}
		return nil
	}); err != nil {
		return rep, err
	}
	rep.Images, problems, err = e.Images.Check(ctx, committed, e.layers().Available)
	if err != nil {
		return rep, err
	}
	rep.Problems = append(rep.Problems, problems...)
	if rep.Layers, rep.Notes, err = layer.CheckIndexes(ctx, e.Content, e.DB); err != nil {
		return rep, err
	}
	rep.Notes = append(rep.Notes, leftovers...)
	if e.pool != nil {
		probs, notes, err := e.pool.Check(ctx)
		if err != nil {
			return rep, err
		}
		rep.Problems = append(rep.Problems, probs...)
		rep.Notes = append(rep.Notes, notes...)
	}
	rep.Notes = append(rep.Notes, ingests...)
	if roots, err := e.roots(ctx); err == nil {
		if r, err := gc.Sweep(ctx, e.Content, nil, roots, gc.Options{DryRun: true}); err == nil && len(r.Blobs) > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d blob(s) no image references (gc removes them)", len(r.Blobs)))
		}
	}
	return rep, nil
}
