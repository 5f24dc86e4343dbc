package layer

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/proc"
	"github.com/strata-project/strata/internal/snapshot"
)

// DeadExtract reports whether snapshot info is one a process left
// half-unpacked (ExtractKey) and the process is gone; it returns its pid.
// gc removes them; fsck notes them.
func DeadExtract(info snapshot.Info) (int, bool) {
	pid, ok := ExtractOwner(info.Name)
	return pid, ok && info.Kind == snapshot.KindActive && !proc.Alive(pid)
}

// CheckIndexes notes the layer records whose tar-split index blob is gone
// (system fsck): harmless while the compressed blob stays, but the tar can
// no longer be rebuilt byte-for-byte. It returns how many records there are.
func CheckIndexes(ctx context.Context, cs *content.Store, db *metadata.DB) (int, []string, error) {
	var layers []metadata.Layer
	if err := db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		layers, err = tx.Layers()
		return err
	}); err != nil {
		return 0, nil, err
	}
	var notes []string
	for _, l := range layers {
		if l.Index != nil {
			if _, err := cs.Info(ctx, l.Index.Digest); err != nil {
				notes = append(notes, fmt.Sprintf("layer %s: tar-split index %s is gone; its tar cannot be rebuilt byte-for-byte", l.DiffID, l.Index.Digest))
			}
		}
	}
	return len(layers), notes, nil
}
