// Package native is the snapshotter that needs no special filesystem: each
// active snapshot directory is a full copy of its parent, and a snapshot is
// shown by a bind mount. Prepare costs a copy of the parent's tree; Commit
// only changes the record. Records, crash order and cleanup come from
// package storage.
//
// Layout of a root:
//
//	<root>/
//	├── metadata.db
//	└── snapshots/
//	    └── <id>/
//	        └── fs/     the whole tree: the parent's copy plus this layer's
//	                    changes (a view's fs is empty: it mounts its parent's)
//
// Mounts:
//
//	Prepare           bind  <id>/fs      rbind,rw
//	View, no parent   bind  <id>/fs      rbind,ro
//	View of p         bind  p/fs         rbind,ro
//
// The copy keeps file types, permission bits (setuid, setgid, sticky),
// owners, extended attributes (including security.capability), times and
// hardlinks within the tree, and makes devices, fifos and sockets anew.
// Sparse files become dense.
package native
