package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry/backend"
	"github.com/strata-project/strata/internal/registry/backend/pgmeta"
	"github.com/strata-project/strata/internal/registry/backend/s3blobs"
)

// StorageOptions choose where blobs live. The zero value is the local
// content store handed to New.
type StorageOptions struct {
	S3 *s3blobs.Config `yaml:"s3"`
}

// openBackends opens the blob store and the index opts name: the local
// store and root/registry.db by default.
func (g *Registry) openBackends(store *content.Store, root string) error {
	ctx := context.Background()
	if s3 := g.opts.Storage.S3; s3 != nil {
		b, err := s3blobs.Open(ctx, *s3)
		if err != nil {
			return fmt.Errorf("registry storage: %w", err)
		}
		g.blobs = b
	} else {
		if store == nil {
			return fmt.Errorf("registry storage: no content store and no storage.s3")
		}
		g.store = store
		g.blobs = LocalBlobs(store)
	}
	if g.opts.Database != "" {
		m, err := pgmeta.Open(ctx, g.opts.Database)
		if err != nil {
			return fmt.Errorf("registry database: %w", err)
		}
		g.meta = m
	} else {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("registry root: %w", err)
		}
		m, err := OpenBoltMeta(filepath.Join(root, "registry.db"))
		if err != nil {
			return err
		}
		g.meta = m
		g.db = m.(*boltMeta).db
	}
	g.shared = g.opts.Storage.S3 != nil
	return nil
}

// NewWithBackends serves a registry from the given back ends (the
// contract tests and replicas sharing in-process back ends use it).
// Close closes meta.
func NewWithBackends(blobs backend.Blobs, meta backend.Meta, shared bool, opts Options) (*Registry, error) {
	opts.setDefaults()
	g, err := newRegistry(opts)
	if err != nil {
		return nil, err
	}
	g.blobs, g.meta, g.shared = blobs, meta, shared
	return g, nil
}
