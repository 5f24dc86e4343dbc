// Package engine opens a Strata root and exposes each verb as a Go method.
// It is the only place that wires the store, the database, the snapshotter
// and the image records together; the CLI calls it and prints.
//
// On-disk layout of a root (default /var/lib/strata, or $STRATA_ROOT):
//
//	<root>/
//	  blobs/sha256/<hex>     content store (package content)
//	  ingest/                in-progress writes
//	  metadata.db            names, layers (package metadata)
//	  driver                 the snapshotter chosen at first use: overlay|native
//	  snapshots/<driver>/    the snapshotter's own root (package snapshot)
//	  containers/            container records (package container)
//	  push-sessions/         upload URLs of pushes cut short, to resume; gone when a
//	                         push of the blob finishes, or after a day (gc)
//	  build-cache-mounts/    RUN --mount=type=cache dirs, kept between builds and in
//	                         no layer; `strata builder prune` removes those no build
//	                         holds (layout in build_mounts.go)
//	  gc.lock                flock: writers hold it shared, gc exclusive
//
// Crash order everywhere: content first, then snapshots, then the names that
// point at them. A crash leaves only unreferenced things, which gc removes
// and fsck reports as reclaimable, never as damage.
package engine
