// Package engine opens a Strata root and exposes each verb as a Go method.
// It is the only place that wires the store, the database, the snapshotter,
// the image records and the container store together; every front end (the
// CLI, tests, the coming Engine API server) calls it, so a container made
// by one shows in the others.
//
// Open registers every gc root the engine owns: the images' manifests,
// configs, layers and snapshots, each container's snapshot and its image,
// and the build cache's layers. Nothing outside the engine has to remember
// to, so a collection keeps the same things whoever opened the store.
//
// It is wiring, not a second home for what packages below own. Pull, Push,
// Load, Save, Import and Commit are transfer's (the engine hands it its
// stores, gc lock, events and registry client, and a commit the container
// store's diff): they find their layers (a registry's manifest, an
// archive's files, a tar, a container's diff) and hand them to the layer
// pipeline (layer.Pipeline), which fetches or reads,
// verifies, unpacks, commits the snapshots in chain order and writes the
// layer records; images then stores the config and manifest and names the
// image. Push reads the same layer records to skip, mount or rebuild blobs.
//
// The container verbs are the container store's (package container: the
// run sequence, inspect's docker shape, cp, prune, stats); the network and
// volume verbs its network manager's and volume store's, which record
// their own events, and read docker's --filter values for their rows. The
// engine resolves the image a container is made from and names the types
// front ends use.
//
// On-disk layout of a root (default /var/lib/strata, or $STRATA_ROOT):
//
//	<root>/
//	  blobs/sha256/<hex>     content store (package content)
//	  ingest/                in-progress writes
//	  metadata.db            names, layers (package metadata)
//	  driver                 the snapshotter chosen at first use: overlay|native
//	  config.json            engine-wide settings, docker's daemon.json keys (package config);
//	                         optional, written by the administrator
//	  snapshots/<driver>/    the snapshotter's own root (package snapshot)
//	  files/                 the overlay driver's file pool: each regular file of the
//	                         committed snapshots once, hard-linked from them
//	                         (package snapshot/filepool; dedupe.go, gc.go, fsck.go)
//	  containers/            container records (package container), owned by the
//	                         engine (Engine.Containers) and shared by its callers
//	  runc/                  runc's own state of running containers
//	  push-sessions/         upload URLs of pushes cut short, to resume; gone when a
//	                         push of the blob finishes, or after a day (gc)
//	  build-cache-mounts/    RUN --mount=type=cache dirs, kept between builds and in
//	                         no layer; `strata builder prune` removes those no build
//	                         holds (layout in build/cache/mountdir.go)
//	  volumes/               docker's local volumes (package volume): NAME/_data,
//	                         0700 like the root; outside the content store and the
//	                         snapshotter, so gc never sweeps them: they go by volume
//	                         rm and prune, and rm -v or --rm of the container an
//	                         anonymous one was made for
//	  gc.lock                flock: writers hold it shared, gc exclusive
//
// Crash order everywhere: content first, then snapshots, then the names that
// point at them. A crash leaves only unreferenced things, which gc removes
// and fsck reports as reclaimable, never as damage.
package engine
