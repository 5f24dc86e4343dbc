package registry

import (
	"context"
	"fmt"
	"time"
)

// idleClose is how long an upload's ingest stays open (and flock'ed)
// between requests.
const idleClose = time.Minute

// cleanUploads closes idle ingests, ends sessions untouched for
// UploadExpiry, and removes stale staged bytes from the blob store.
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
				if cw, err := g.blobs.Writer(ctx, u.id, u.alg, nil); err == nil {
					u.w = cw
				}
			}
			u.abort(ctx)
			_ = g.forgetUpload(ctx, u)
		case idle >= idleClose:
			u.closeWriter()
		}
		<-u.sem
	}
	// Sessions recorded before a restart (or, with shared sessions, on
	// any replica) that nobody came back for.
	updated := map[string]time.Time{}
	if g.store != nil {
		ingests, err := g.store.Ingests(ctx)
		if err != nil {
			return fmt.Errorf("clean uploads: %w", err)
		}
		for _, in := range ingests {
			updated[in.Ref] = in.Updated
		}
	}
	recs, err := g.meta.Uploads(ctx)
	if err != nil {
		return fmt.Errorf("clean uploads: %w", err)
	}
	for id, rec := range recs {
		g.mu.Lock()
		inMemory := g.uploads[id] != nil
		g.mu.Unlock()
		if inMemory {
			continue
		}
		last := rec.Started
		if rec.Updated.After(last) {
			last = rec.Updated
		}
		if t, ok := updated[uploadRef(id)]; ok && t.After(last) {
			last = t
		}
		if now.Sub(last) < g.opts.UploadExpiry {
			continue
		}
		if rec.State != nil {
			if cw, err := g.blobs.Writer(ctx, id, rec.Algorithm, rec.State); err == nil {
				_ = cw.Abort(ctx)
			}
		}
		if err := g.meta.DeleteUpload(ctx, id); err != nil {
			return fmt.Errorf("clean uploads: %w", err)
		}
	}
	if err := g.blobs.CleanUploads(ctx, g.opts.UploadExpiry); err != nil {
		return fmt.Errorf("clean uploads: %w", err)
	}
	return nil
}
