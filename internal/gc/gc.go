package gc

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot"
)

// Roots are what must stay.
type Roots struct {
	Blobs     map[digest.Digest]bool
	Snapshots map[string]bool
	// Layers are the diffIDs of the layer records to keep (Mark fills
	// it; ForgetLayers deletes the others).
	Layers map[digest.Digest]bool
}

// Merge adds other's blobs, snapshots and layers to r.
func (r Roots) Merge(other Roots) {
	for d := range other.Blobs {
		r.Blobs[d] = true
	}
	for s := range other.Snapshots {
		r.Snapshots[s] = true
	}
	for d := range other.Layers {
		r.Layers[d] = true
	}
}

// Report says what a sweep removed (or, dry, would remove).
type Report struct {
	Blobs         []digest.Digest
	BlobBytes     int64
	Snapshots     []string
	SnapshotBytes int64
}

// Options tune a sweep.
type Options struct {
	DryRun bool
	// Snapshots, if false, leaves snapshots alone.
	Snapshots bool
}

// Sweep removes every committed blob and committed snapshot not in roots.
// Snapshots are removed children first, so a parent still in use by a kept
// child stays.
func Sweep(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, roots Roots, opts Options) (Report, error) {
	var rep Report
	err := cs.Walk(ctx, func(info content.Info) error {
		if roots.Blobs[info.Digest] {
			return nil
		}
		if !opts.DryRun {
			if err := cs.Delete(ctx, info.Digest); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
		}
		rep.Blobs = append(rep.Blobs, info.Digest)
		rep.BlobBytes += info.Size
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("sweep blobs: %w", err)
	}
	if sn == nil || !opts.Snapshots {
		return rep, nil
	}
	// Keep the parents of everything kept (an active container snapshot
	// keeps its image's chain even if no image names it any more).
	infos := map[string]snapshot.Info{}
	if err := sn.Walk(ctx, func(ctx context.Context, info snapshot.Info) error {
		infos[info.Name] = info
		return nil
	}); err != nil {
		return rep, fmt.Errorf("sweep snapshots: %w", err)
	}
	keep := map[string]bool{}
	for name, info := range infos {
		if roots.Snapshots[name] || info.Kind != snapshot.KindCommitted {
			for n := name; n != "" && !keep[n]; n = infos[n].Parent {
				keep[n] = true
			}
		}
	}
	var doomed []string
	for name := range infos {
		if !keep[name] {
			doomed = append(doomed, name)
		}
	}
	sort.Strings(doomed)
	// Remove leaves first: repeat until nothing more can go.
	children := map[string]int{}
	for _, info := range infos {
		if info.Parent != "" {
			children[info.Parent]++
		}
	}
	removed := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, name := range doomed {
			if removed[name] || children[name] > 0 {
				continue
			}
			if !opts.DryRun {
				if u, err := sn.Usage(ctx, name); err == nil {
					rep.SnapshotBytes += u.Size
				}
				if err := sn.Remove(ctx, name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
					return rep, fmt.Errorf("remove snapshot %s: %w", name, err)
				}
			} else if u, err := sn.Usage(ctx, name); err == nil {
				rep.SnapshotBytes += u.Size
			}
			removed[name] = true
			rep.Snapshots = append(rep.Snapshots, name)
			if p := infos[name].Parent; p != "" {
				children[p]--
			}
			progress = true
		}
	}
	return rep, nil
}
