package layer

import (
	"context"
	"io"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/mount"
)

// DiffSnapshotter is what OpenDiff needs of a snapshotter.
type DiffSnapshotter interface {
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	UpperDir(ctx context.Context, key string) (string, error)
	ParentDirs(ctx context.Context, key string) ([]string, error)
}

// Diff is an active snapshot's changes from its parent: the one way Strata
// turns what a build step or a container wrote into a layer (build's
// steps, commit).
type Diff struct {
	// Upper is the snapshot's own directory; Parents its parents'
	// directories, nearest first.
	Upper   string
	Parents []string
	// Overlay says Upper holds only the changes, with overlay's whiteouts
	// (the snapshot mounts as an overlay); otherwise it is a full copy to
	// compare with the nearest parent.
	Overlay bool
}

// OpenDiff describes the changes of the active snapshot key.
func OpenDiff(ctx context.Context, sn DiffSnapshotter, key string) (Diff, error) {
	var d Diff
	mounts, err := sn.Mounts(ctx, key)
	if err != nil {
		return d, err
	}
	if d.Upper, err = sn.UpperDir(ctx, key); err != nil {
		return d, err
	}
	if d.Parents, err = sn.ParentDirs(ctx, key); err != nil {
		return d, err
	}
	d.Overlay = len(mounts) > 0 && mounts[0].Type == "overlay"
	return d, nil
}

// Write writes the changes as a layer tar (OCI whiteouts for what was
// removed): from overlay's upper dir alone, or by comparing the copy with
// its parent, or, with no parent, the whole tree.
func (d Diff) Write(ctx context.Context, w io.Writer, opts archive.WriteOptions) error {
	switch {
	case d.Overlay:
		return archive.WriteOverlayDiff(ctx, w, d.Upper, opts)
	case len(d.Parents) == 0:
		return archive.WriteDir(ctx, w, d.Upper, opts)
	}
	return archive.WriteDiff(ctx, w, d.Parents[0], d.Upper, opts)
}
