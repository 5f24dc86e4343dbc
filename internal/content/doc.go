// Package content is Strata's content-addressed blob store: layers,
// configs, manifests and indexes, each stored once under its digest and
// verified on the way in.
//
// It knows nothing of images: callers hand it descriptors and get bytes back.
// The registry server and the engine share this format, so a registry's blobs
// and a local store's blobs are the same files.
//
// On-disk layout under the store root, which is 0700 (Open makes it so,
// repairing older stores): no user but root may enter it, read a blob, or
// reach a running container's root filesystem mounted below it.
//
//	blobs/
//	  sha256/<hex>        committed blobs, read-only (0444)
//	  sha512/<hex>
//	ingest/
//	  <key>/              one in-progress write
//	    ref               the caller's reference (a digest, an upload id)
//	    data              bytes received so far
//	    lock              flock'ed by the one writer that owns the ingest
//
// A blob becomes visible only through rename(2) from its ingest after its size
// and digest were checked and its data fsync'ed, so no reader ever sees a
// partial blob, and a crash leaves at most an ingest (which a resumable writer
// picks up again, and CleanIngests removes once stale).
package content
