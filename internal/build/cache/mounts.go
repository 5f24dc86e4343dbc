package cache

import (
	"context"
	"encoding/json"
	"time"

	"github.com/strata-project/strata/internal/metadata"
)

// Mount is the record of one RUN --mount=type=cache directory, kept under
// m/<dir> beside the step records so that the build cache's figures and
// prunes see layers and cache mounts alike. The directory is the truth
// about whether the mount exists: a record whose directory is gone is
// stale (a prune cut short), and a directory without a record is a mount
// whose builds died before they could record it.
type Mount struct {
	// Dir is the directory's name under the cache mount dir: the id, or a
	// hashed form of it, and "-N" for the Nth private copy.
	Dir string `json:"dir"`
	// ID is the mount's id= (its target when it has none).
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	LastUsed   time.Time `json:"lastUsed"`
	UsageCount int       `json:"usageCount"`
	// Size is the directory's disk use as measured at SizedAt. A use after
	// that (LastUsed later) makes it stale: it is measured again when
	// next asked for, not at the end of every RUN.
	Size    int64     `json:"size"`
	SizedAt time.Time `json:"sizedAt,omitempty"`
}

// Stale says whether Size no longer describes the directory.
func (m Mount) Stale() bool { return m.SizedAt.IsZero() || m.SizedAt.Before(m.LastUsed) }

// MountUse is one RUN's use of a cache mount directory, ended at At.
type MountUse struct {
	Dir, ID string
	At      time.Time
}

func mountKey(dir string) []byte { return []byte("m/" + dir) }

// TouchMountsTx records uses of cache mounts inside the caller's write
// transaction (the build's final commit).
func TouchMountsTx(tx *metadata.Tx, uses []MountUse) error {
	if len(uses) == 0 {
		return nil
	}
	b, err := tx.Bucket(bucket)
	if err != nil {
		return err
	}
	for _, u := range uses {
		m := Mount{Dir: u.Dir, ID: u.ID, Created: u.At}
		if v := b.Get(mountKey(u.Dir)); v != nil {
			_ = json.Unmarshal(v, &m) // a damaged record starts again
		}
		m.ID = u.ID
		if u.At.After(m.LastUsed) {
			m.LastUsed = u.At
		}
		m.UsageCount++
		j, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := b.Put(mountKey(u.Dir), j); err != nil {
			return err
		}
	}
	return nil
}

// Mounts returns the cache mount records by directory name.
func (s *Store) Mounts(ctx context.Context) (map[string]Mount, error) {
	out := map[string]Mount{}
	err := scan(ctx, s.DB, "m/", "cache mount record", func(m Mount) { out[m.Dir] = m })
	return out, err
}

// SetMountSizes stores measured sizes. A record that exists keeps its
// use times (a build may have recorded a use since it was read); one that
// does not is written as given.
func (s *Store) SetMountSizes(ctx context.Context, ms []Mount) error {
	if len(ms) == 0 {
		return nil
	}
	return s.DB.Update(ctx, func(tx *metadata.Tx) error {
		b, err := tx.Bucket(bucket)
		if err != nil {
			return err
		}
		for _, m := range ms {
			cur := m
			if v := b.Get(mountKey(m.Dir)); v != nil && json.Unmarshal(v, &cur) == nil {
				cur.Size, cur.SizedAt = m.Size, m.SizedAt
			}
			j, err := json.Marshal(cur)
			if err != nil {
				return err
			}
			if err := b.Put(mountKey(m.Dir), j); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteMounts drops the records of ms, each only while it is the one
// that was read (same LastUsed): a build that made the directory again
// and recorded its use since keeps its record.
func (s *Store) DeleteMounts(ctx context.Context, ms []Mount) error {
	if len(ms) == 0 {
		return nil
	}
	return s.DB.Update(ctx, func(tx *metadata.Tx) error {
		b, err := tx.Bucket(bucket)
		if err != nil {
			return err
		}
		for _, m := range ms {
			v := b.Get(mountKey(m.Dir))
			if v == nil {
				continue
			}
			var cur Mount
			if json.Unmarshal(v, &cur) == nil && !cur.LastUsed.Equal(m.LastUsed) {
				continue
			}
			if err := b.Delete(mountKey(m.Dir)); err != nil {
				return err
			}
		}
		return nil
	})
}
