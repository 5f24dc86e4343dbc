// Package mount describes filesystem mounts as values and performs them.
//
// A snapshotter returns []Mount and leaves mounting to its caller (the
// runtime, a layer diff, a test): All mounts them in order onto a target,
// UnmountAll undoes a stack of mounts on one target, and MountedUnder finds
// mounts left under a directory by a process that died, read from
// /proc/self/mountinfo.
//
// Overlay mounts with many lower layers are the one subtle case: the kernel
// copies at most one page (4096 bytes on most machines) of mount data, and 128
// absolute lowerdir paths do not fit. When the data is too long, All rewrites
// the lowerdir paths relative to their longest common parent directory and
// makes the mount(2) call from an OS thread whose working directory is that
// parent (see mountAt). Snapshot directories are short and numeric
// (snapshots/12/fs), so about 500 layers fit, which is also overlayfs's limit.
//
// This package owns no files on disk; OverlaySupported creates and removes a
// temporary directory under the directory it is asked about:
//
//	<dir>/
//	└── overlay-check-*/   removed before OverlaySupported returns
//	    ├── lower1/ lower2/ upper/ work/
//	    └── merged/        mounted and unmounted once
package mount
