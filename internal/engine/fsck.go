package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/proc"
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
	corrupt := map[digest.Digest]bool{}
	err := e.Content.Walk(ctx, func(info content.Info) error {
		rep.Blobs++
		if err := e.Content.Verify(ctx, info.Digest); err != nil {
			if errors.Is(err, errdefs.ErrDataCorrupt) {
				corrupt[info.Digest] = true
				rep.Problems = append(rep.Problems, fmt.Sprintf("blob %s is corrupt: %v; remove the images that use it and pull or import them again", info.Digest, err))
				return nil
			}
			return err
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	var recs []metadata.Image
	var layers []metadata.Layer
	if err := e.DB.View(ctx, func(tx *metadata.Tx) error {
		var err error
		if recs, err = tx.Images(); err != nil {
			return err
		}
		layers, err = tx.Layers()
		return err
	}); err != nil {
		return rep, err
	}
	snaps := map[string]snapshot.Info{}
	if err := e.Snap.Walk(ctx, func(ctx context.Context, info snapshot.Info) error {
		snaps[info.Name] = info
		return nil
	}); err != nil {
		return rep, err
	}
	rep.Snapshots = len(snaps)
	rep.Layers = len(layers)
	for _, r := range recs {
		rep.Images++
		name := images.Familiar(r.Name)
		if strings.HasPrefix(r.Name, untaggedPrefix) {
			name = "untagged image " + r.Target.Digest.String()
		}
		img, err := e.Images.Load(ctx, r.Target)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("image %s: %v", name, err))
			continue
		}
		// A layer blob the blob cache evicted is not damage: the layer is
		// rebuilt from its snapshot and index when it is needed.
		diffIDs, chains := img.DiffIDs(), img.ChainIDs()
		for i, l := range img.Manifest.Layers {
			if err := e.layerAvailable(ctx, l, diffIDs[i], chains[i]); err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("image %s: layer %d blob %s: %v", name, i, l.Digest, err))
			}
		}
		for i, c := range img.ChainIDs() {
			info, ok := snaps[c.String()]
			if !ok || info.Kind != snapshot.KindCommitted {
				rep.Problems = append(rep.Problems, fmt.Sprintf("image %s: layer %d (%s) is not unpacked (snapshot %s missing)", name, i, img.DiffIDs()[i], c))
			}
		}
	}
	for _, l := range layers {
		if l.Index != nil {
			if _, err := e.Content.Info(ctx, l.Index.Digest); err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("layer %s: tar-split index %s is gone; its tar cannot be rebuilt byte-for-byte", l.DiffID, l.Index.Digest))
			}
		}
	}
	// Leftovers: harmless, reclaimable.
	for name, info := range snaps {
		if pid, ok := layer.ExtractOwner(name); ok && info.Kind == snapshot.KindActive && !proc.Alive(pid) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("snapshot %s: left half-unpacked by process %d, which is gone (gc removes it)", name, pid))
		}
	}
	if e.pool != nil {
		probs, notes, err := e.pool.Check(ctx)
		if err != nil {
			return rep, err
		}
		rep.Problems = append(rep.Problems, probs...)
		rep.Notes = append(rep.Notes, notes...)
	}
	if ings, err := e.Content.Ingests(ctx); err == nil && len(ings) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d unfinished ingest(s) (resumable downloads or writes cut short; gc removes abandoned ones)", len(ings)))
	}
	if roots, err := e.roots(ctx); err == nil {
		n := 0
		_ = e.Content.Walk(ctx, func(info content.Info) error {
			if !roots.Blobs[info.Digest] {
				n++
			}
			return nil
		})
		if n > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d blob(s) no image references (gc removes them)", n))
		}
	}
	return rep, nil
}
