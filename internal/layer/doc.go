// Package layer moves layers between the content store and snapshots.
//
// Unpack applies an uncompressed layer tar as a new committed snapshot
// named by its chain ID, computing the diffID as the bytes pass: a layer is
// unpacked once per chain ID and shared by every image that has it. Create
// goes the other way in one pass, tar writer → (diffID hash, compressor) →
// content ingest, with no uncompressed temporary copy.
//
// The unpacked snapshot is the permanent copy of a layer. Unpack can also
// keep a tar-split index of the tar (archive.ApplyOptions.Index) as a blob,
// so that the exact tar, and so the diffID, can be rebuilt from the snapshot
// if the compressed blob is ever evicted. CreateIndexed makes a layer that
// way from the start: it hashes the tar and stores only its index, for
// builds, whose layers are compressed only when pushed.
package layer
