package cache

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
)

// Entry types, named as BuildKit names its records' (docker system df -v).
const (
	TypeLayer = "regular"         // a layer steps made
	TypeMount = "exec.cachemount" // a RUN --mount=type=cache directory
)

// Entry is one thing the build cache holds: a layer that steps made (one
// entry however many steps' records name it), or a cache mount directory.
// It is a row of `system df -v` and what `builder prune` removes whole.
type Entry struct {
	// ID is a layer's chain ID, or a cache mount's directory name (its
	// id, or a hashed form of it, and "-N" for a private copy).
	ID          string
	Type        string // TypeLayer or TypeMount
	Description string
	// Size is a layer's uncompressed size, a cache mount's disk use (du's
	// count of its blocks).
	Size       int64
	Created    time.Time
	LastUsed   time.Time
	UsageCount int
	// Shared: an image uses the layer too, so removing the entry frees
	// nothing (and, without --all, a prune keeps it).
	Shared bool
	// InUse: a running build holds the cache mount; no prune removes it.
	InUse bool

	keys  []digest.Digest // a layer's step records
	mount *Mount
}

// PruneOptions tune `strata builder prune`. The rule is BuildKit's
// (`docker builder prune`):
//
//   - By default every entry is removed that nothing uses: layers no image
//     uses, and cache mounts no running build holds, however recently
//     used. A cache mount a build holds is never removed, --all or not.
//   - All also drops the records of layers images use (their layers stay
//     with the images) and every config-only step record.
//   - KeepStorage keeps the most recently used entries, layers and cache
//     mounts together, whose sizes total at most that many bytes: entries
//     are removed least recently used first until the rest fit. The sizes
//     are those `system df -v` shows. Layers images use count only with
//     All (without it they are neither counted nor removed).
//   - KeepDuration (--filter until=24h) keeps every entry used within it.
type PruneOptions struct {
	All          bool
	KeepStorage  int64
	KeepDuration time.Duration
}

// PruneReport says what a prune removed.
type PruneReport struct {
	// Removed is every entry removed, least recently used first; Records
	// is how many.
	Removed []Entry
	Records int
	// Reclaimed is the bytes freed: the cache mounts' sizes and what the
	// collection after dropping the records freed.
	Reclaimed int64
}

// Entries lists the build cache: its layers (images counts the images
// using each chain ID) and the cache mounts under dir, most recently used
// first.
func (s *Store) Entries(ctx context.Context, dir string, images map[string]int) ([]Entry, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	ents := layerEntries(recs, images)
	mounts, _, err := s.MountEntries(ctx, dir)
	if err != nil {
		return nil, err
	}
	ents = append(ents, mounts...)
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].LastUsed.After(ents[j].LastUsed) })
	return ents, nil
}

// Prune removes build cache entries as opts say (see PruneOptions): the
// cache mounts under dir, each under its lock, and the step records of the
// layers; images counts the images using each chain ID. The caller then
// collects the layers and blobs the dropped records held (adding what that
// freed to Reclaimed) and, under the gc lock, calls TidyMountDir.
func (s *Store) Prune(ctx context.Context, dir string, images func(context.Context) (map[string]int, error), opts PruneOptions) (PruneReport, error) {
	var rep PruneReport
	if opts.KeepStorage < 0 || opts.KeepDuration < 0 {
		return rep, fmt.Errorf("builder prune: --keep-storage and until must not be negative: %w", errdefs.ErrInvalidArgument)
	}
	freed, err := cleanMountLeftovers(ctx, dir)
	rep.Reclaimed += freed
	if err != nil {
		return rep, err
	}
	recs, err := s.Records(ctx)
	if err != nil {
		return rep, err
	}
	chains, err := images(ctx)
	if err != nil {
		return rep, err
	}
	ents := layerEntries(recs, chains)
	mounts, stale, err := s.MountEntries(ctx, dir)
	if err != nil {
		return rep, err
	}
	now := time.Now()
	var dropMounts, dropLayers []Entry
	for _, en := range pruneSelect(append(ents, mounts...), opts, now) {
		if en.Type == TypeMount {
			dropMounts = append(dropMounts, en)
		} else {
			dropLayers = append(dropLayers, en)
		}
	}

	removed, err := s.removeMounts(ctx, dir, dropMounts, stale)
	for _, m := range removed {
		rep.Reclaimed += m.Size
	}
	rep.Removed = append(rep.Removed, removed...)
	if err != nil {
		return rep, err
	}

	if opts.All && opts.KeepStorage == 0 && opts.KeepDuration == 0 {
		err = s.DeleteAll(ctx)
	} else {
		var keys []digest.Digest
		for _, en := range dropLayers {
			keys = append(keys, en.keys...)
		}
		if opts.All && opts.KeepStorage == 0 {
			cutoff := now.Add(-opts.KeepDuration)
			for _, r := range recs {
				if r.Empty && r.LastUsed.Before(cutoff) {
					keys = append(keys, r.Key)
				}
			}
		}
		err = s.Delete(ctx, keys)
	}
	if err != nil {
		return rep, err
	}
	rep.Removed = append(rep.Removed, dropLayers...)
	sort.SliceStable(rep.Removed, func(i, j int) bool { return rep.Removed[i].LastUsed.Before(rep.Removed[j].LastUsed) })
	rep.Records = len(rep.Removed)
	return rep, nil
}

// pruneSelect picks the entries a prune removes, least recently used
// first (see PruneOptions).
func pruneSelect(ents []Entry, opts PruneOptions, now time.Time) []Entry {
	ents = append([]Entry(nil), ents...)
	sort.SliceStable(ents, func(i, j int) bool {
		if !ents[i].LastUsed.Equal(ents[j].LastUsed) {
			return ents[i].LastUsed.Before(ents[j].LastUsed)
		}
		return ents[i].ID < ents[j].ID
	})
	// As BuildKit's, --all ignores sharing: every entry counts, and
	// dropping a shared layer's records counts as freeing it.
	counts := func(en Entry) bool { return opts.All || !en.Shared }
	var total int64
	for _, en := range ents {
		if counts(en) {
			total += en.Size
		}
	}
	cutoff := now.Add(-opts.KeepDuration)
	var drop []Entry
	for _, en := range ents {
		if opts.KeepStorage > 0 && total <= opts.KeepStorage {
			break
		}
		switch {
		case en.InUse:
		case en.Shared && !opts.All:
		case opts.KeepDuration > 0 && en.LastUsed.After(cutoff):
		default:
			drop = append(drop, en)
			if counts(en) {
				total -= en.Size
			}
		}
	}
	return drop
}

// layerEntries groups the step records that made a layer into one entry
// per chain ID; images counts the images using each chain. A layer's size
// is its uncompressed diff as the record has it: on overlay that is what
// its snapshot holds, give or take blocks, and it needs no walk (a native
// snapshot is a whole copy of its tree, which would count every layer
// below it again).
func layerEntries(recs []Record, images map[string]int) []Entry {
	byChain := map[string]*Entry{}
	var order []string
	for _, r := range recs {
		if r.Empty {
			continue
		}
		c := r.ChainID.String()
		en := byChain[c]
		if en == nil {
			size := r.Size
			if size == 0 {
				size = r.Blob.Size
			}
			en = &Entry{ID: c, Type: TypeLayer, Description: "layer " + r.DiffID.String(),
				Size: size, Created: r.Created, Shared: images[c] > 0}
			byChain[c] = en
			order = append(order, c)
		}
		en.keys = append(en.keys, r.Key)
		if r.LastUsed.After(en.LastUsed) {
			en.LastUsed = r.LastUsed
		}
		if r.Created.Before(en.Created) {
			en.Created = r.Created
		}
		en.UsageCount += max(r.UsageCount, 1)
	}
	out := make([]Entry, 0, len(order))
	for _, c := range order {
		out = append(out, *byChain[c])
	}
	return out
}
