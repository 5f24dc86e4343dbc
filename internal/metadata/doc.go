// Package metadata is Strata's bbolt database: which names point at which
// manifests, what is known of each layer, and (later) build cache records.
//
// Several strata processes work on one root at once and bbolt locks its file
// for as long as it is open, so the database is opened around each short
// transaction and closed right after, never for a whole pull or build. A
// process that cannot get the lock within the timeout gets an error wrapping
// errdefs.ErrUnavailable ("store busy"), never a hang.
//
// Schema (version 1), buckets under "v1":
//
//	v1/
//	  images/<name>        JSON Image: a name (docker.io/library/busybox:latest)
//	                       and the manifest descriptor it points at
//	  layers/<diffID>      JSON Layer: chain ID, uncompressed size, and the
//	                       compressed blobs known to carry it
//	  blobuse/<digest>     RFC 3339 time a layer blob of the blob cache was
//	                       last used (layer's BlobCache evicts the oldest)
//	  meta/version         "1"
//
// Content is committed before the metadata that points at it, so a crash
// leaves unreferenced content (collected by gc) and never a dangling name.
package metadata
