package images

import (
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Summary is one row of `strata images`.
type Summary struct {
	Repository string
	Tag        string
	ID         digest.Digest // config digest
	Digest     digest.Digest // the digest its repository holds it under ("" unless pulled or pushed)
	Created    time.Time
	Size       int64 // uncompressed bytes of every layer
	// Labels are the image config's (for images --filter label=).
	Labels map[string]string
}

// Summaries returns one row per name (and one per untagged image) of
// imgs, whose layers measure sizes (by chain ID, layer.Sizes).
func Summaries(imgs []Image, sizes map[digest.Digest]int64) []Summary {
	var out []Summary
	for _, img := range imgs {
		size := img.Size(sizes)
		for _, n := range img.Names {
			repo, tag := RepoTag(n)
			var dgst digest.Digest
			for _, rd := range img.RepoDigests {
				if r, d, _ := strings.Cut(rd, "@"); r == repo {
					dgst = digest.Digest(d)
				}
			}
			out = append(out, Summary{Repository: repo, Tag: tag, ID: img.ID(), Digest: dgst, Created: img.Created(), Size: size, Labels: img.Config.Config.Labels})
		}
	}
	return out
}

// Created is when the image's config says it was made, the zero time if
// it does not say.
func (img Image) Created() time.Time {
	if img.Config.Created != nil {
		return *img.Config.Created
	}
	return time.Time{}
}

// Size adds up the image's layers as sizes measures them (by chain ID), a
// layer it holds twice counted once.
func (img Image) Size(sizes map[digest.Digest]int64) int64 {
	var n int64
	for _, c := range img.UniqueChainIDs() {
		n += sizes[c]
	}
	return n
}

// UniqueChainIDs are ChainIDs with each layer once, bottom first.
func (img Image) UniqueChainIDs() []digest.Digest {
	seen := map[digest.Digest]bool{}
	var out []digest.Digest
	for _, c := range img.ChainIDs() {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
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

// History lists img's history, newest first, its layers measured by sizes
// (by chain ID). Rows that made a layer carry the chain ID of the
// filesystem after them; rows that made none carry the chain ID of the
// layers below them, so no known row is "<missing>".
func History(img Image, sizes map[digest.Digest]int64) []HistoryRow {
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
	return rows
}

// UsageRow is one image's row of `system df -v`.
type UsageRow struct {
	Repository, Tag string
	ID              digest.Digest
	Created         time.Time
	Size            int64 // all its layers
	SharedSize      int64 // layers another image uses too
	UniqueSize      int64 // layers only it uses
	Containers      int
}

// Usage is the images' part of `system df`.
type Usage struct {
	Rows []UsageRow // one per name, as Summaries
	// LayersSize is the disk used by every unpacked layer, each counted
	// once however many images share it; SharedSize the part more than
	// one image uses.
	LayersSize, SharedSize int64
	Active                 int // images a container uses
	// Users counts, by chain ID, the images that use each layer.
	Users map[string]int
}

// MeasureUsage fills the images' part of `system df` from imgs, their
// layers' sizes (by chain ID, layer.Sizes) and how many containers use
// each image (by ID; an image missing from it counts none).
func MeasureUsage(imgs []Image, sizes map[digest.Digest]int64, containers map[digest.Digest]int) Usage {
	u := Usage{Users: LayerUsers(imgs)}
	for c, n := range sizes {
		u.LayersSize += n
		if u.Users[c.String()] > 1 {
			u.SharedSize += n
		}
	}
	for _, img := range imgs {
		row := UsageRow{ID: img.ID(), Created: img.Created(), Containers: containers[img.ID()]}
		for _, c := range img.UniqueChainIDs() {
			row.Size += sizes[c]
			if u.Users[c.String()] > 1 {
				row.SharedSize += sizes[c]
			} else {
				row.UniqueSize += sizes[c]
			}
		}
		if row.Containers > 0 {
			u.Active++
		}
		for _, n := range img.Names {
			r := row
			r.Repository, r.Tag = RepoTag(n)
			u.Rows = append(u.Rows, r)
		}
	}
	return u
}

// LayerUsers counts, by chain ID, the images of imgs that use each layer.
func LayerUsers(imgs []Image) map[string]int {
	users := map[string]int{}
	for _, img := range imgs {
		for _, c := range img.UniqueChainIDs() {
			users[c.String()]++
		}
	}
	return users
}
