// Package snapshot defines the Snapshotter interface that keeps container and
// image filesystems as a tree of layered snapshots, and the words used for
// them: a key names an active (writable) snapshot or a view, a name a
// committed one, and parent the committed snapshot one is based on.
//
// Two implementations share one on-disk layout, the metadata code in
// package storage and one test suite, snapshottest.Run:
//
//   - overlay: each snapshot directory holds only its changes; mounts are
//     overlayfs mounts of the parent chain.
//   - native: each snapshot directory is a full copy of its parent plus its
//     changes; mounts are bind mounts. It works on any filesystem.
//
// Package snapshot owns the records and the directories under a root. It
// leaves mounting to the caller (package mount), layer tars to package
// archive and layer, and deciding what to delete to package gc.
//
// On-disk layout of a root (see package storage):
//
//	<root>/
//	├── metadata.db        bbolt: records, id sequence
//	└── snapshots/
//	    ├── 1/
//	    │   ├── fs/        the snapshot's files (overlay: upper dir)
//	    │   └── work/      overlay work dir, while active
//	    ├── 2/…
//	    ├── new-<pid>-*/   being made by process pid, renamed to <id> on record
//	    └── rm-<id>/       being removed, after its record was deleted
package snapshot
