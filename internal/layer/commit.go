package layer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// ChainID is the chain ID of layer diffID on parent (a chain ID, "" for an
// empty base): the name of its committed snapshot.
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return manifest.ChainIDs([]digest.Digest{parent, diffID})[1]
}

// commitChain commits the active snapshot key as chainID. A chain ID that
// is there already (another process made the same layer meanwhile) is no
// error: the existing snapshot is used, and key is left for the caller to
// remove; committed says which.
func commitChain(ctx context.Context, sn Snapshotter, key string, chainID digest.Digest) (committed bool, err error) {
	if err := sn.Commit(ctx, chainID.String(), key); err != nil {
		if !errors.Is(err, errdefs.ErrAlreadyExists) {
			return false, fmt.Errorf("commit snapshot %s: %w", chainID, err)
		}
		return false, nil
	}
	return true, nil
}

// ActiveOptions tune CommitActive.
type ActiveOptions struct {
	// Compress stores the layer's blob compressed as Compression (Create).
	// By default only its tar-split index is stored (CreateIndexed) and
	// the descriptor names the uncompressed tar, which Reader rebuilds
	// from the snapshot and a push compresses (Rebuild).
	Compress    bool
	Compression archive.Compression
}

// CommitActive makes the layer of the active snapshot key, which the
// caller prepared on parent (a chain ID, "" for an empty base) and filled,
// and commits key in the chain under the layer's chain ID: the snapshot is
// the layer's permanent copy as it is, never unpacked again. write writes
// the layer's tar to w (the snapshot's diff, Diff.Write) and, when index
// is not nil, its tar-split index there.
//
// It returns the layer's record and leaves writing it to the caller, who
// must first make the snapshot durable (crash order: the snapshot, then
// the record pointing at it); a build so syncs once and writes the
// records of all its steps in one commit. On success key is no longer
// active: it is the chain's snapshot, or, when that chain ID was there
// already, it was removed and the existing snapshot is used. On error
// key is left as it was, for the caller to remove.
func (p *Pipeline) CommitActive(ctx context.Context, key string, parent digest.Digest, write func(w, index io.Writer) error, opts ActiveOptions) (metadata.Layer, error) {
	var created Created
	var index *ocispec.Descriptor
	if opts.Compress {
		c, err := Create(ctx, p.Content, opts.Compression, func(w io.Writer) error { return write(w, nil) })
		if err != nil {
			return metadata.Layer{}, fmt.Errorf("write layer: %w", err)
		}
		created = c
	} else {
		ix, err := CreateIndexed(ctx, p.Content, write)
		if err != nil {
			return metadata.Layer{}, fmt.Errorf("write layer: %w", err)
		}
		created, index = ix.Created, &ix.Index
	}
	chainID := ChainID(parent, created.DiffID)
	committed, err := commitChain(ctx, p.Snap, key, chainID)
	if err != nil {
		return metadata.Layer{}, err
	}
	if !committed {
		_ = p.Snap.Remove(context.WithoutCancel(ctx), key)
	}
	return metadata.Layer{DiffID: created.DiffID, ChainID: chainID, Size: created.Size, Blobs: []ocispec.Descriptor{created.Desc}, Index: index}, nil
}
