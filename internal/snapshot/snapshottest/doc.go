// Package snapshottest is the test suite every snapshot.Snapshotter passes,
// as containerd's SnapshotterSuite: Run for behaviour, Bench for the cost of
// preparing, mounting and removing a container's snapshot. Tests mount real
// filesystems, so they need root and skip without it; every mount is
// undone in t.Cleanup. It owns nothing on disk beyond t.TempDir().
package snapshottest
