// Package filepool stores each regular file of the committed snapshots once:
// a content-addressed pool of files that snapshot directories hard-link to
// (issue #16, item 2). Two images whose layers have different digests but
// the same files (a rootfs tarred twice, an app COPY --link'ed onto two
// bases) then share one inode per file instead of one copy per layer.
//
// It owns the pool directory and the dedupe pass over a snapshot's own
// files (Dedupe); which snapshots are passed, and when, is the snapshotter's
// (overlay runs it as a snapshot is committed) and the engine's (`strata
// system dedupe` over an existing store, Prune after gc).
//
// # Digests noted as files are written
//
// The pass needs each file's content digest. A layer being unpacked has
// just had every byte of its files in hand, so the unpacker hashes each
// file as it writes it (archive.ApplyOptions.FileDigest) and notes the
// digest with the file's path and lstat in a Hashes set, which the overlay
// snapshotter keeps per active snapshot and hands to the pass at commit.
// The pass then walks nothing: it looks only at the files noted (the
// unpacker notes every regular file it writes), and reads no file whose
// path still holds the inode noted, with the size, mtime and ctime noted;
// a noted file changed since is read and hashed. A tree without notes (a
// build step's, a container's commit, `strata system dedupe` over an old
// store) is walked and every file read. What dedupe adds to a pull or a
// load is then the hashing of each file as it is written (XXH3-128, about
// 50 GB/s a core here on large files: ContentHash; on a goroutine of the
// unpacker's own so that it overlaps the writing) and, per file at commit,
// a stat, the xattr list (by path: no open) and the link; nothing is
// synced, and no file is read twice but one that finds an entry under its
// key, whose bytes are then compared with the entry's before the two share
// an inode (XXH3 is fast because it does not resist collisions:
// content.go). When the unpacker writes the snapshot's own directory (a base
// layer, a staged one), the files are pooled as they are written instead,
// on the unpacker's hasher goroutine (Live, live.go), and the pass at
// commit finds them done. There the unpacker also offers each small file
// (at most 1 MiB, no xattrs) to Live.Reuse before writing it, hashed from
// the tar: a file the pool has is linked in its place and never written,
// so a second image with the same files (another layer digest, a rebuild)
// costs links, not writes the pool then undoes (archive's reuse.go; it
// stops offering when few are taken, as in a layer of new files).
// BenchmarkUnpackPool (package layer)
// unpacks the Debian rootfs with the pool off and on, bench/disk.sh's time
// phase pulls and loads with dedupe off and on.
//
// # Why hard links
//
// This machine's store is on ext4, which has no reflinks (FICLONE), so the
// only way to share file data without a new filesystem is a shared inode.
// A shared inode shares its metadata too, so the pool key is the content
// digest and every piece of metadata a container can see: the mode
// (type, permission, setuid/setgid/sticky), uid, gid, mtime to the
// nanosecond and the xattrs; two files share an inode only if a reader can
// tell them apart by nothing but their path. What still differs is the
// link count: inside a container a shared file's st_nlink is the number of
// paths (in all snapshots, plus the pool) holding it, not 1 as the layer
// says, and its st_ino is the same in every image that has it and at every
// path of one layer that holds the same file (the Debian image has a
// hundred such: copyright files and changelogs of one source package).
// overlayfs reports both from the lower inode; nothing in Strata (tar
// writers, copies) takes a pooled inode's link count, or its second path
// in a tree, for a hard link of the layer (see Inodes).
//
// The composefs way (an EROFS image of each layer's metadata over a
// data-only lower layer of content-addressed files, overlayfs "lowerdir+"
// and "datadir+", kernel 6.5 or later) gives each layer its own inode
// metadata and nlink over shared data, and this kernel (6.18, erofs in
// /proc/filesystems) has it. It needs a composefs image writer: mkcomposefs
// is not in Debian 12, and its erofs-utils 1.5 cannot write the metacopy
// and redirect xattrs that point into a data-only layer; it would also
// need a loop device per mounted layer, and change how every lower dir is
// mounted, written and diffed. Hard links keep the plain directories every other
// part of Strata reads, so they were chosen; the pool key makes them as
// safe, at the cost of the link count.
//
// # Safety
//
// A pooled inode must never change. overlayfs copies a lower file up
// before any write, chmod, chown, utimes or xattr change, so a container
// never writes to a lower dir; the snapshotter mounts with index=off, so a
// copy-up never links back either. Only committed snapshots are deduped,
// and nothing writes into a committed snapshot's directory in place: a
// build step, a commit and a container each get a new active snapshot
// whose upper dir starts empty; /etc/hosts, /etc/resolv.conf and
// /etc/hostname are files in the container's own directory, bind-mounted.
// Files the layer itself hard-links (st_nlink > 1 before the pass) are left
// alone, so the layer's own links stay as they were (a file Live pooled
// before the layer linked to it is given an inode of its own back first),
// and a file carrying an overlay xattr (trusted.overlay.*, user.overlay.*)
// is too.
//
// Files smaller than MinSize are not pooled. The default is every
// non-empty file, by BenchmarkDedupe on two copies of the Debian minbase
// rootfs (5,329 files, 3,109 of them under 4 KiB; 2 cores at load 30):
// pooling them all saves 206.8 MB per copy in 8.0 s, pooling only files of
// 4 KiB and more saves 193.5 MB in 4.9 s. The small files cost per file
// (a few link and rename calls each, not hashing); they are kept in because
// the disk goal (two images with the same files at most 0.55 of docker's)
// is met with them and missed by a hair without (bench/disk.sh), and
// because a commit that pools is off the pull's critical path only in part.
//
// # Layout and crash order
//
//	<root>/                       0700
//	├── sha256/<a>/<key>          a pooled file; <key> is the hex sha256 of
//	│                             "strata-file-pool/v1", the content digest,
//	│                             mode, uid, gid, mtime and sorted xattrs
//	└── tmp/
//	    ├── link-<pid>-<rand>     a link to a pool file on its way into a snapshot
//	    └── dir-<pid>-<rand>      a directory whose times the pass will restore
//
// A pooled file is never written: the pass links the snapshot's finished
// file into the pool (linkat is atomic, so a pool entry is whole or
// absent), or links the pool entry to tmp/link-*, exchanges that with the
// snapshot's file (renameat2 RENAME_EXCHANGE is atomic, so the snapshot
// holds the old inode or the pool's; a plain rename over it where the
// filesystem cannot exchange) and removes tmp/link-*, now the old file.
// Replacing an entry moves its directory's mtime, which is
// part of the layer, so before the first rename in a directory the pass
// writes the directory's times to tmp/dir-*, and after the last it sets
// them back and removes that file. A process killed in between leaves
// tmp/ files naming a dead pid; Recover (run whenever the pool is opened
// by the engine) restores the times and removes them. Prune removes pool
// files whose link count is 1: no snapshot holds them any more.
package filepool
