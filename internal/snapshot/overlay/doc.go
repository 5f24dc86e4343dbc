// Package overlay is the snapshotter for Linux overlayfs: each snapshot
// directory holds only the changes its layer makes, and a snapshot is shown
// by an overlay mount of its upper dir over its committed parents' dirs.
// Records, crash order and cleanup come from package storage. With Pool
// set, Commit and CommitOnto first store the upper dir's regular files in
// the file pool (package filepool), so committed upper dirs hard-link to
// one copy of each file, using the digests the unpacker noted as it wrote
// them (FileHashes) instead of reading them again; a lower dir's file is
// never written, since overlayfs copies it up first, and the mounts'
// index=off keeps copy-up from linking back.
//
// Layout of a root:
//
//	<root>/
//	├── metadata.db
//	└── snapshots/
//	    └── <id>/
//	        ├── fs/     upper dir: the layer's files, whiteouts (0/0 char
//	        │           devices) and opaque dirs (trusted.overlay.opaque=y)
//	        └── work/   overlay work dir; only while active, Cleanup drops it
//
// Mounts, for a parent chain p1 (nearest) … pN:
//
//	Prepare, no parent   bind  <id>/fs  rbind,rw
//	Prepare, N ≥ 1       overlay  index=off,workdir=<id>/work,upperdir=<id>/fs,lowerdir=p1/fs:…:pN/fs
//	View, no parent      bind  <id>/fs  rbind,ro
//	View, N = 1          bind  p1/fs  rbind,ro
//	View, N ≥ 2          overlay  lowerdir=p1/fs:…:pN/fs
//
// Paths are absolute; mount.All shortens a lowerdir list longer than a page
// to paths relative to <root>/snapshots, so chains of 128 layers and more
// mount.
package overlay
