package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/content"
)

// idleClose is how long an upload's ingest stays open (and flock'ed)
// between requests.
const idleClose = time.Minute

// cleanUploads closes idle ingests, ends sessions untouched for
// UploadExpiry, and removes stale ingests from the store.
func (g *Registry) cleanUploads(ctx context.Context, now time.Time) error {
	g.mu.Lock()
	var live []*upload
	for _, u := range g.uploads {
		live = append(live, u)
	}
	g.mu.Unlock()
	for _, u := range live {
		select {
		case u.sem <- struct{}{}:
		default:
			continue // busy, so not idle
		}
		switch idle := now.Sub(u.lastUsed); {
		case idle >= g.opts.UploadExpiry:
			if u.w == nil {
				if cw, err := g.store.Writer(ctx, content.WriterOptions{Ref: uploadRef(u.id), Algorithm: u.alg}); err == nil {
					u.w = cw
				}
			}
			u.abort(ctx)
			_ = g.forgetUpload(u)
		case idle >= idleClose:
			u.closeWriter()
		}
		<-u.sem
	}
	// Sessions recorded before a restart that nobody came back for.
	ingests, err := g.store.Ingests(ctx)
	if err != nil {
		return fmt.Errorf("clean uploads: %w", err)
	}
	updated := map[string]time.Time{}
	for _, in := range ingests {
		updated[in.Ref] = in.Updated
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	err = g.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		var drop [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if g.uploads[string(k)] != nil {
				return nil
			}
			var rec uploadRecord
			_ = json.Unmarshal(v, &rec)
			last := rec.Started
			if t, ok := updated[uploadRef(string(k))]; ok && t.After(last) {
				last = t
			}
			if now.Sub(last) >= g.opts.UploadExpiry {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clean uploads: %w", err)
	}
	if _, err := g.store.CleanIngests(ctx, g.opts.UploadExpiry); err != nil {
		return fmt.Errorf("clean uploads: %w", err)
	}
	return nil
}
