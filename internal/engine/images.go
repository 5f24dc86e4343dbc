package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
)

// ImageSummary is one row of `strata images`.
type ImageSummary = images.Summary

// ListImages returns one row per name (and one per untagged image).
func (e *Engine) ListImages(ctx context.Context) ([]ImageSummary, error) {
	imgs, err := e.Images.List(ctx)
	if err != nil {
		return nil, err
	}
	sizes, err := e.layerSizes(ctx, imgs...)
	if err != nil {
		return nil, err
	}
	return images.Summaries(imgs, sizes), nil
}

// layerSizes measures the layers of imgs in this store (layer.Sizes).
func (e *Engine) layerSizes(ctx context.Context, imgs ...images.Image) (map[digest.Digest]int64, error) {
	chains := make([][]digest.Digest, len(imgs))
	for i, img := range imgs {
		chains[i] = img.DiffIDs()
	}
	return layer.Sizes(ctx, e.Snap, e.DB, chains...)
}

// ResolveImage finds an image by name or ID.
func (e *Engine) ResolveImage(ctx context.Context, ref string) (images.Image, error) {
	return e.Images.Resolve(ctx, ref)
}

// Tag gives the image src another name.
func (e *Engine) Tag(ctx context.Context, src, target string) error {
	tagged, err := images.ParseTagged(target)
	if err != nil {
		return err
	}
	unlock, err := e.lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	id, err := e.Images.Tag(ctx, src, tagged.String())
	if err != nil {
		return err
	}
	e.imageEvent("tag", id.String(), images.Familiar(tagged.String()))
	return nil
}

// RemoveResult is what removing one reference did, in docker's words.
type RemoveResult struct {
	Untagged []string
	Deleted  []digest.Digest
}

// RemoveImage untags ref (a name) or removes every name of an image (an
// ID), then deletes what nothing references any more.
func (e *Engine) RemoveImage(ctx context.Context, ref string, force bool) (RemoveResult, error) {
	var res RemoveResult
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		return res, err
	}
	names, err := img.RemovalNames(ref, force)
	if err != nil {
		return res, err
	}
	lastName := len(names) == len(img.Names)
	if lastName {
		users, err := e.ContainerUsers(ctx, img.ID())
		if err != nil {
			return res, err
		}
		if len(users) > 0 {
			return res, fmt.Errorf("conflict: unable to remove %s: image is used by container %s; remove it first (strata rm %s): %w",
				ref, strings.Join(users, ", "), users[0], errdefs.ErrConflict)
		}
	}
	unlock, err := e.lock(ctx, false)
	if err != nil {
		return res, err
	}
	res.Untagged, err = e.Images.Untag(ctx, names)
	unlock()
	if err != nil {
		return res, err
	}
	for _, n := range res.Untagged {
		e.imageEvent("untag", img.ID().String(), n)
	}
	if lastName {
		e.imageEvent("delete", img.ID().String(), "")
		res.Deleted = append(res.Deleted, img.ID())
		if _, err := e.GC(ctx, GCOptions{}); err != nil {
			return res, fmt.Errorf("untagged, but collecting garbage failed: %w", err)
		}
	}
	return res, nil
}

// HistoryRow is one row of `strata history`.
type HistoryRow = images.HistoryRow

// History lists an image's history, newest first (images.History).
func (e *Engine) History(ctx context.Context, ref string) ([]HistoryRow, error) {
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	sizes, err := e.layerSizes(ctx, img)
	if err != nil {
		return nil, err
	}
	return images.History(img, sizes), nil
}

// sortedKeys is for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PullName is the name pull prints for ref: its full form
// (docker.io/library/busybox:latest), or with all tags the repository's.
// A ref that does not parse is an errdefs.ErrInvalidArgument.
func PullName(ref string, allTags bool) (string, error) {
	named, err := images.ParseName(ref)
	if err != nil {
		return "", err
	}
	if allTags {
		return named.Name(), nil
	}
	return named.String(), nil
}
