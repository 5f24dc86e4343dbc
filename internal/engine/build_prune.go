package engine

import (
	"context"
	"path/filepath"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/images"
)

// The build cache's entries and prune rule live in build/cache; these
// names are the front ends'.
type (
	BuildCacheEntry     = cache.Entry
	BuilderPruneOptions = cache.PruneOptions
	BuilderPruneReport  = cache.PruneReport
)

// Cache types, named as BuildKit names its records' (docker system df -v).
const (
	CacheTypeLayer = cache.TypeLayer
	CacheTypeMount = cache.TypeMount
)

// cacheMountDir holds RUN --mount=type=cache directories between builds
// (its layout: build/cache's mountdir.go).
func (e *Engine) cacheMountDir() string { return filepath.Join(e.root, "build-cache-mounts") }

// PruneBuildCache removes build cache entries as opts say (see
// BuilderPruneOptions), then collects the layers and blobs the dropped
// records held. Cache mounts are removed first, each under its lock;
// the collection waits for running builds (the gc lock), the cache mounts
// do not.
func (e *Engine) PruneBuildCache(ctx context.Context, opts BuilderPruneOptions) (BuilderPruneReport, error) {
	rep, err := (&cache.Store{DB: e.DB}).Prune(ctx, e.cacheMountDir(), e.imageChains, opts)
	if err != nil {
		return rep, err
	}
	g, err := e.GC(ctx, GCOptions{})
	rep.Reclaimed += g.Reclaimed()
	if err != nil {
		return rep, err
	}
	unlock, err := e.lock(ctx, true)
	if err != nil {
		return rep, err
	}
	defer unlock()
	return rep, cache.TidyMountDir(e.cacheMountDir())
}

// imageChains counts the images that use each chain ID.
func (e *Engine) imageChains(ctx context.Context) (map[string]int, error) {
	imgs, err := e.Images.List(ctx)
	if err != nil {
		return nil, err
	}
	return images.LayerUsers(imgs), nil
}

// BuildCacheRoots are the gc roots of the build cache (cache.Store.Roots).
// Open registers it.
func (e *Engine) BuildCacheRoots(ctx context.Context) (gc.Roots, error) {
	return (&cache.Store{DB: e.DB}).Roots(ctx)
}
