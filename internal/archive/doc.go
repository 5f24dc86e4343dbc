// Package archive reads and writes layer tar streams as the OCI image spec
// defines them (image-spec layer.md), and compresses them.
//
// It owns:
//
//   - Compression: DetectCompression, Decompress (gzip, zstd, or plain, by
//     magic bytes) and Compress (pgzip, or zstd with deterministic output).
//   - Making layers: WriteDir (a whole tree), WriteOverlayDiff (an overlayfs
//     upper dir, with no lower dir walked) and WriteDiff (two full trees, for
//     the plain-copy snapshotter), plus Changes and OverlayChanges for
//     `strata diff`; each can write the stream's index as it goes
//     (WriteOptions.Index).
//   - Applying layers: Apply unpacks a tar onto a rootfs, with whiteouts and
//     path safety, optionally writing an index from which Rebuild
//     regenerates the byte-identical tar; ApplyOverlay unpacks it into an
//     empty overlayfs upper dir with no lower layers at hand, writing
//     overlay's own whiteouts, so layers can be applied in any order.
//     Either can hash each regular file as it writes it and report the
//     digest (ApplyOptions.FileDigest), for the file pool.
//
// It leaves to others: digests and sizes of blobs (verify, content), which
// snapshot a layer goes to and mounting it (layer, snapshot, mount), and
// anything about images. Everything is streamed; no layer is held in memory,
// and ctx is checked before each tar entry.
//
// # Whiteouts
//
// Layers mark deletions with the formats of image-spec layer.md#whiteouts:
//
//	etc/.wh.motd          a whiteout: etc/motd is removed (a directory with all it holds)
//	var/cache/.wh..wh..opq an opaque marker: every entry of var/cache from lower
//	                      layers is hidden; only what this layer writes there stays
//
// Overlayfs records the same things differently in its upper dir, and
// WriteOverlayDiff translates:
//
//	upper/etc/motd        char device 0/0          -> etc/.wh.motd
//	upper/var/cache/      xattr trusted.overlay.opaque=y (or user.overlay.opaque=y)
//	                                               -> var/cache/ then var/cache/.wh..wh..opq
//
// Apply goes the other way on a full rootfs (an overlay mount or a copy): it
// removes what a whiteout names, and for an opaque marker removes every entry
// of the directory that the same layer did not write, whichever comes first
// in the stream. ApplyOverlay writes what overlayfs itself would have left in
// the upper dir: the char device for a whiteout, the opaque xattr for a
// marker (and for a directory made where the layer wrote a whiteout); what
// only the lower layers can resolve (a missing parent directory, a hardlink
// to a lower file) fails with ErrNeedsLower. Whiteouts and markers written
// into tars here are empty regular files with mode 0644 and mtime 0 (the
// Unix epoch), so diffs are reproducible.
//
// # Path safety
//
// Apply resolves every parent path with openat2(RESOLVE_BENEATH), so symlinks
// are followed only while they stay below root, and acts on the last
// component with *at calls that never follow it. Entries that climb out
// ("../x"), escaping hardlinks and whiteouts, and writes through symlinks
// that leave root are refused with errdefs.ErrInvalidArgument naming the
// entry. Relative symlinks that stay inside root (merged-/usr "lib ->
// usr/lib") are followed; absolute ones in a parent path are refused, since
// they would name the host's files. Where openat2 is missing (before Linux
// 5.6, some sandboxes) the same rules are applied by a component-by-component
// walk with O_NOFOLLOW. /proc must be mounted: xattrs are set through
// /proc/self/fd/N/NAME.
//
// # Index format
//
// ApplyOptions.Index receives a tar-split style index: enough to rebuild the
// exact tar bytes (and so prove the diffID) from the unpacked files once the
// compressed blob is gone. It is binary:
//
//	"strata-tar-index/v1\n"
//	records, each starting with one byte:
//	  'R' uvarint(n) n bytes      raw tar bytes: headers, PAX records, padding,
//	                              end-of-archive blocks, payloads of sparse or
//	                              non-regular entries, trailing padding
//	  'F' uvarint(n) n bytes path uvarint(size)
//	                              size bytes of payload, to be read from root/path
//	                              (a clean relative path, where Apply wrote it)
//	  'E'                         end of index
//
// Concatenating the records in order, with each 'F' replaced by the file's
// content, gives the tar Apply read. A file written twice by the same layer,
// or changed after unpacking, cannot be rebuilt; Rebuild reports a size
// change, and a same-size change shows as a digest mismatch to the caller.
package archive
