// Package layer moves layers between the content store and snapshots, and
// keeps the layer records that tie the two together. It is the one home of
// the layer pipeline: pull, load, import and commit hand it their layers,
// and a build step its filled snapshot.
//
// Pipeline.Apply (pipeline.go, read.go) is that pipeline. Callers describe
// a chain of layers as Sources: a descriptor, the diffID the image's config
// promises, and a way to open the blob's bytes (a registry fetch that
// resumes after a cut, an archive's file, a plain tar to be compressed).
// For each layer it reads the blob into a content ingest (resumable, named
// after the digest, for pulls), verifying size and digest; decompresses and
// unpacks it as the bytes pass (three goroutines: read, decompress, unpack);
// commits the snapshots in chain order; and then writes the tar-split
// index and the layer record (records.go). A layer already in the store is
// skipped; Undo takes back what a failed load added. The walk is the one
// containerd's core/images handlers Dispatch makes for pull, here with the
// unpacking folded in. The per-file dedupe is the overlay snapshotter's,
// as Unpack and Staged.Commit commit a snapshot (snapshot/filepool), so
// builds get it too; Unpack and Stage hash each file as they write it and
// note the digest with the snapshotter (FileHashes), so that the commit
// pools the layer's files without reading them again; writing the
// snapshot's own directory, they pool each file as it is noted
// (PoolAsWritten).
//
// The blob cache (cache.go). Once finish has committed a layer's snapshot,
// index and record, its compressed blob is a cache entry: kept while the
// cache fits its budget (BlobCache.Budget), the least recently used
// evicted first, last uses recorded in the metadata database on write,
// push and save (Touch). The engine's default budget is 0, one copy of
// each layer: the blob is made again (Rebuild) only for a push to a
// registry that lacks it, and a push to one that has it sends nothing. A
// blob read in part stays an ingest until its layer commits, so a pull
// killed midway resumes. Eviction keeps the layer record's descriptor of
// the blob, with the registry repositories known to hold it, so a push can
// still skip or mount it under its original digest. Manifests, configs,
// indexes, and the blobs of layers that cannot be rebuilt (no index, no
// committed snapshot) are never entries.
//
// Unpack applies an uncompressed layer tar as a new committed snapshot
// named by its chain ID, computing the diffID as the bytes pass: a layer is
// unpacked once per chain ID and shared by every image that has it. Create
// goes the other way in one pass, tar writer → (diffID hash, compressor) →
// content ingest, with no uncompressed temporary copy.
//
// Stage unpacks a layer before its parent is there, on a snapshotter whose
// snapshots hold only their own changes (overlay, CanStage): into a
// parentless snapshot as an overlay upper dir (archive.ApplyOverlay), which
// Staged.Commit then puts on its parent. The pipeline so unpacks all the
// layers of an image at once and stacks them in chain order; a layer that
// needs its lower layers to be applied (archive.ErrNeedsLower) is unpacked
// from its stored blob with Unpack in its turn.
//
// The unpacked snapshot is the permanent copy of a layer. Unpack can also
// keep a tar-split index of the tar (archive.ApplyOptions.Index) as a blob,
// so that the exact tar, and so the diffID, can be rebuilt from the snapshot
// once the blob cache has evicted the compressed blob. CreateIndexed makes a layer that
// way from the start: it hashes the tar and stores only its index, for
// builds, whose layers are compressed only when pushed. Pipeline.Reader
// and Available (open.go) read such a layer, or one whose blob the cache
// evicted, rebuilt from its snapshot: the blob provider of save.
//
// CommitActive (commit.go) is the pipeline's other entry: the layer of an
// active snapshot a caller filled (a build step's), made in one pass from
// the snapshot's diff (CreateIndexed, or Create when the blob is stored)
// and committed in place under its chain ID, never unpacked again. It
// returns the layer record for the caller to write once the snapshot is
// durable: a build syncs once and writes all its steps' records in one
// commit. `strata commit` does not use it, and hands its tar to Apply
// (ApplyTar, as import does), because the container's snapshot is not
// the layer's to commit: the container keeps it (running, or to be
// started again), and the layer is a filtered diff of it (runc's mount
// points left out), so its snapshot must be a new one unpacked from that
// tar.
// Unpack, Staged.Commit and CommitActive share ChainID and the commit that
// takes an existing chain ID as success (commitChain).
//
// Layer records (metadata.Layer) list the compressed forms of a layer
// known to exist, each annotated with the registry repositories known to
// hold it (AnnotationRepositories), so that a push can skip or mount it.
package layer
