package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/metadata"
)

// ImageSummary is one row of `strata images`.
type ImageSummary struct {
	Repository string
	Tag        string
	ID         digest.Digest // config digest
	Digest     digest.Digest // the digest its repository holds it under ("" unless pulled or pushed)
	Created    time.Time
	Size       int64 // uncompressed bytes of every layer
	// Labels are the image config's (for images --filter label=).
	Labels map[string]string
}

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
	var out []ImageSummary
	for _, img := range imgs {
		size := imageSize(img, sizes)
		var created time.Time
		if img.Config.Created != nil {
			created = *img.Config.Created
		}
		for _, n := range img.Names {
			repo, tag := "<none>", "<none>"
			if !strings.HasPrefix(n, untaggedPrefix) {
				repo, tag = images.SplitRepoTag(n)
			}
			var dgst digest.Digest
			for _, rd := range img.RepoDigests {
				if r, d, _ := strings.Cut(rd, "@"); r == repo {
					dgst = digest.Digest(d)
				}
			}
			out = append(out, ImageSummary{Repository: repo, Tag: tag, ID: img.ID(), Digest: dgst, Created: created, Size: size, Labels: img.Config.Config.Labels})
		}
	}
	return out, nil
}

// layerSizes is the one measure of a layer's size that images, inspect,
// history and system df all show (docker's show one figure everywhere too):
// the disk its unpacked snapshot takes, as du counts it, keyed by chain ID
// and each layer walked once. A layer whose snapshot cannot be measured
// counts its uncompressed tar size.
func (e *Engine) layerSizes(ctx context.Context, imgs ...images.Image) (map[digest.Digest]int64, error) {
	sizes := map[digest.Digest]int64{}
	var records map[digest.Digest]int64 // by diffID, read on first need
	for _, img := range imgs {
		diffIDs := img.DiffIDs()
		for i, c := range img.ChainIDs() {
			if _, ok := sizes[c]; ok {
				continue
			}
			if u, err := e.Snap.Usage(ctx, c.String()); err == nil {
				sizes[c] = u.Size
				continue
			}
			if records == nil {
				records = map[digest.Digest]int64{}
				if err := e.DB.View(ctx, func(tx *metadata.Tx) error {
					ls, err := tx.Layers()
					for _, l := range ls {
						records[l.DiffID] = l.Size
					}
					return err
				}); err != nil {
					return nil, err
				}
			}
			sizes[c] = records[diffIDs[i]]
		}
	}
	return sizes, nil
}

// imageSize adds up an image's layers, a layer it holds twice counted once.
func imageSize(img images.Image, sizes map[digest.Digest]int64) int64 {
	var n int64
	seen := map[digest.Digest]bool{}
	for _, c := range img.ChainIDs() {
		if !seen[c] {
			seen[c] = true
			n += sizes[c]
		}
	}
	return n
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
	img, err := e.Images.Resolve(ctx, src)
	if err != nil {
		return err
	}
	if err := e.DB.Update(ctx, func(tx *metadata.Tx) error {
		// The source may have been removed since we resolved it.
		if !targetNamed(tx, img.Target.Digest) {
			return fmt.Errorf("no such image: %s (removed meanwhile): %w", src, errdefs.ErrNotFound)
		}
		return putName(tx, tagged.String(), img.Target)
	}); err != nil {
		return err
	}
	e.imageEvent("tag", img.ID().String(), images.Familiar(tagged.String()))
	return nil
}

func targetNamed(tx *metadata.Tx, d digest.Digest) bool {
	recs, _ := tx.Images()
	for _, r := range recs {
		if r.Target.Digest == d {
			return true
		}
	}
	return false
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
	byName := ""
	if named, err := images.ParseName(ref); err == nil {
		for _, n := range img.Names {
			if n == named.String() {
				byName = n
			}
		}
	}
	names := img.Names
	if byName != "" {
		names = []string{byName}
	} else if len(img.Names) > 1 && !force {
		var fam []string
		for _, n := range img.Names {
			fam = append(fam, images.Familiar(n))
		}
		return res, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories (%s): %w",
			images.ShortID(img.ID()), strings.Join(fam, ", "), errdefs.ErrConflict)
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
	err = e.DB.Update(ctx, func(tx *metadata.Tx) error {
		for _, n := range names {
			if err := tx.DeleteImage(n); err != nil {
				if errors.Is(err, errdefs.ErrNotFound) {
					continue // another process removed it: nothing to do
				}
				return err
			}
			if !strings.HasPrefix(n, untaggedPrefix) {
				res.Untagged = append(res.Untagged, images.Familiar(n))
			}
		}
		return nil
	})
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
type HistoryRow struct {
	ID         string // image ID on the top row, the layer state below
	Created    time.Time
	CreatedBy  string
	Size       int64
	Comment    string
	EmptyLayer bool
}

// History lists an image's history, newest first. Rows that made a layer
// carry the chain ID of the filesystem after them; rows that made none carry
// the chain ID of the layers below them, so no known row is "<missing>".
func (e *Engine) History(ctx context.Context, ref string) ([]HistoryRow, error) {
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	sizes, err := e.layerSizes(ctx, img)
	if err != nil {
		return nil, err
	}
	diffIDs, chains := img.DiffIDs(), img.ChainIDs()
	hist := img.Config.History
	if len(hist) == 0 {
		// An image with no history: one synthetic row per layer.
		for range diffIDs {
			hist = append(hist, ocispec.History{})
		}
	}
	var rows []HistoryRow
	li := -1
	for _, h := range hist {
		row := HistoryRow{CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != nil {
			row.Created = *h.Created
		}
		if !h.EmptyLayer && li+1 < len(diffIDs) {
			li++
			row.Size = sizes[chains[li]]
		}
		if li >= 0 {
			row.ID = chains[li].String()
		} else {
			row.ID = "<none>"
		}
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		rows[len(rows)-1].ID = img.ID().String()
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows, nil
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
