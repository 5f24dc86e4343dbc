// Package imagearchive writes and reads image archives: the tarballs of
// `docker save` / `docker load` and OCI image layouts (image-spec
// image-layout.md), as a directory or a tar.
//
// Write makes one tar that is both at once, each blob stored once:
//
//	oci-layout              {"imageLayoutVersion": "1.0.0"}
//	index.json              OCI index; per name an entry annotated with
//	                        io.containerd.image.name (full name) and
//	                        org.opencontainers.image.ref.name (the tag)
//	manifest.json           docker: [{Config, RepoTags, Layers}], paths into blobs/
//	repositories            docker: {"repo": {"tag": top layer hex}}
//	blobs/sha256/<hex>      manifests and configs first, then layers bottom first
//
// Open and Images read docker save archives of both formats — docker 25+
// (paths into blobs/) and the old one (<id>/layer.tar, uncompressed, whose
// digests are diffIDs, <hex>.json configs, duplicate layers as symlinks) —
// and OCI layouts, plain or compressed. Every JSON file is read through a
// 4 MiB cap and checked against the digest it is named by; every archive
// path is checked (no absolute paths, no "..", links only to other entries
// of the archive, a layout directory read through an os.Root). Layer bytes
// are left to the caller (transfer.Store.Load), which verifies them as it
// unpacks.
//
// A plain tar file is indexed in place and each file read at its offset.
// A compressed tar or a stream (standard input) is read in one pass when
// its JSON comes first, as Write orders it: the head is kept in memory and
// each layer handed to the loader as the stream reaches it (copied to a temp
// file only if it comes before it is wanted, or is wanted twice). Archives
// in another order — docker writes manifest.json after the layers — are
// decompressed whole into a temp file first.
//
// The package knows nothing of the store: it neither writes blobs nor names
// images.
package imagearchive
