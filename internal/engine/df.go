package engine

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/snapshot/filepool"
)

// DiskUsage is what `strata system df` reports.
type DiskUsage struct {
	Images []ImageUsage
	// LayersSize is the disk used by every unpacked layer, each counted
	// once however many images share it; it adds up with the per-image
	// unique sizes and the shared size.
	LayersSize  int64
	SharedSize  int64
	Reclaimable int64 // layers no image uses
	BlobsSize   int64 // compressed blobs, manifests, configs
	BlobsCount  int
	// The blob cache (layer.BlobCache): the compressed layer blobs kept
	// beside the unpacked layers, all reclaimable (a layer is rebuilt
	// from its snapshot when pushed or saved), and its budget.
	BlobCacheCount  int
	BlobCacheSize   int64
	BlobCacheBudget int64
	// FilePool is the file pool's figures (overlay driver; zero on the
	// native one): LayersSize counts every layer's files whole, and
	// FilePool.Saved is how much less they take on disk by sharing
	// pooled files between layers.
	FilePool     filepool.Usage
	ActiveImages int
	// The containers, those running or paused (docker's ACTIVE), the
	// disk their own writable layers take, and the part of it that
	// stopped containers take (what container prune frees).
	Containers            int
	ActiveContainers      int
	ContainersSize        int64
	ContainersReclaimable int64
	// The build cache (see BuildCacheEntry): its entries, layers and
	// RUN --mount cache directories; those in use (as docker counts
	// ACTIVE: a cache mount a running build holds); the size of what only
	// the cache holds (its layers no image uses, and its cache mounts), so
	// that it does not count the Images row again; and how much of that a
	// prune can free now (all but the cache mounts running builds hold).
	BuildCacheRecords     int
	BuildCacheActive      int
	BuildCacheSize        int64
	BuildCacheReclaimable int64
	// BuildCache lists the entries, most recently used first.
	BuildCache []BuildCacheEntry
	// Volumes are the volumes: how many, those a container uses (ACTIVE),
	// their data's size and what the unused ones hold.
	Volumes VolumeUsage
}

// ImageUsage is one image's row of `system df -v`.
type ImageUsage = images.UsageRow

// DiskUsage measures the unpacked layers (as du would) and the blobs.
func (e *Engine) DiskUsage(ctx context.Context) (DiskUsage, error) {
	var du DiskUsage
	imgs, err := e.Images.List(ctx)
	if err != nil {
		return du, err
	}
	sizes, err := e.layerSizes(ctx, imgs...)
	if err != nil {
		return du, err
	}
	containers := map[digest.Digest]int{}
	for _, img := range imgs {
		if u, err := e.ContainerUsers(ctx, img.ID()); err == nil {
			containers[img.ID()] = len(u)
		}
	}
	iu := images.MeasureUsage(imgs, sizes, containers)
	du.Images, du.LayersSize, du.SharedSize, du.ActiveImages = iu.Rows, iu.LayersSize, iu.SharedSize, iu.Active
	users := iu.Users
	if err := e.containerUsage(ctx, &du); err != nil {
		return du, err
	}
	if du.Volumes, err = e.volumeUsage(ctx); err != nil {
		return du, err
	}
	if err := e.buildCacheUsage(ctx, users, &du); err != nil {
		return du, err
	}
	err = e.Content.Walk(ctx, func(info content.Info) error {
		du.BlobsSize += info.Size
		du.BlobsCount++
		return nil
	})
	if err != nil {
		return du, err
	}
	cached, err := e.layers().CachedBlobs(ctx)
	for _, b := range cached {
		du.BlobCacheCount++
		du.BlobCacheSize += b.Desc.Size
	}
	du.BlobCacheBudget = e.BlobCacheBudget()
	if err == nil && e.pool != nil {
		du.FilePool, err = e.pool.Usage(ctx)
	}
	return du, err
}

// containerUsage fills the containers' figures from their writable layers.
func (e *Engine) containerUsage(ctx context.Context, du *DiskUsage) error {
	ctrs, err := e.ListContainers(ctx, ContainerListOptions{All: true, Size: true})
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		du.Containers++
		du.ContainersSize += c.SizeRw
		if c.State == StatusRunning || c.State == StatusPaused {
			du.ActiveContainers++
		} else {
			du.ContainersReclaimable += c.SizeRw
		}
	}
	return nil
}

// buildCacheUsage fills the build cache's figures; images holds the chain
// IDs images use (their layers are counted in the images' row).
func (e *Engine) buildCacheUsage(ctx context.Context, images map[string]int, du *DiskUsage) error {
	ents, err := (&cache.Store{DB: e.DB}).Entries(ctx, e.cacheMountDir(), images)
	if err != nil {
		return err
	}
	du.BuildCache = ents
	for _, en := range ents {
		du.BuildCacheRecords++
		if en.InUse {
			du.BuildCacheActive++
		}
		if en.Shared {
			continue
		}
		du.BuildCacheSize += en.Size
		if !en.InUse {
			du.BuildCacheReclaimable += en.Size
		}
	}
	return nil
}
