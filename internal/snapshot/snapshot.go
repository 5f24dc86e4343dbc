package snapshot

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-project/strata/internal/mount"
)

// Kind is the state of a snapshot.
type Kind int

const (
	// KindActive is a writable snapshot made by Prepare, to be committed or
	// removed.
	KindActive Kind = iota + 1
	// KindCommitted is a read-only snapshot made by Commit; only it can be a
	// parent.
	KindCommitted
	// KindView is a read-only snapshot made by View; it cannot be committed.
	KindView
)

func (k Kind) String() string {
	switch k {
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	case KindView:
		return "view"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Info describes a snapshot. Name is its key when active or a view, and its
// name once committed; Parent is the committed snapshot it is based on, ""
// for none.
type Info struct {
	Kind    Kind
	Name    string
	Parent  string
	Labels  map[string]string
	Created time.Time
	Updated time.Time
}

// Usage is the space a snapshot's own directory takes: bytes allocated on
// disk and the number of inodes, each hardlinked inode counted once.
type Usage struct {
	Size   int64
	Inodes int64
}

// Opt sets an optional property of a snapshot when it is made.
type Opt func(*Info)

// WithLabels sets the labels of the snapshot being made, replacing any.
func WithLabels(labels map[string]string) Opt {
	return func(info *Info) {
		info.Labels = make(map[string]string, len(labels))
		for k, v := range labels {
			info.Labels[k] = v
		}
	}
}

// Snapshotter keeps a tree of filesystem snapshots, each a layer of changes on
// top of its parent, and hands out the mounts that show them. It does not
// mount anything itself: callers pass the returned []mount.Mount to
// mount.All and unmount with mount.UnmountAll before removing a snapshot.
//
// Importing an image layer by layer, with key and name chosen by the
// caller (Strata names committed layers by chain ID):
//
//	// Layer 1 has no parent.
//	mounts, err := sn.Prepare(ctx, "extract-1 "+chainID1, "")
//	mount.All(mounts, tmp)                 // apply the layer's tar under tmp
//	mount.UnmountAll(tmp, 0)
//	sn.Commit(ctx, chainID1, "extract-1 "+chainID1)
//	// Layer 2 on top of layer 1, and so on.
//	mounts, err = sn.Prepare(ctx, "extract-2 "+chainID2, chainID1)
//	…
//	sn.Commit(ctx, chainID2, "extract-2 "+chainID2)
//
// Running a container on the image's top layer:
//
//	mounts, err := sn.Prepare(ctx, containerID, chainID2)
//	mount.All(mounts, rootfs)              // runc runs in rootfs
//	…                                     // the container exits
//	mount.UnmountAll(rootfs, 0)
//	sn.Remove(ctx, containerID)            // or Commit it as a new image layer
//
// Lifecycle: Prepare makes an active snapshot under key, View a read-only
// one; Commit turns an active snapshot into a committed one under name, and
// key no longer exists afterwards; Remove deletes any snapshot that has no
// children. Keys and names share one namespace. Every call reads or writes
// the record in a short transaction, so several processes may use the same
// root at once; when another holds the store for too long, calls fail with
// an error wrapping errdefs.ErrUnavailable.
//
// Errors are errdefs kinds, tested with errors.Is:
//   - ErrNotFound: key, name or parent does not exist.
//   - ErrAlreadyExists: Prepare or View of a key, or Commit to a name, that
//     exists. When two callers race to commit the same content (two pulls of
//     one layer) the loser gets this and should treat it as success and
//     Remove its own key.
//   - ErrInvalidArgument: empty key or name, or a parent that is not
//     committed.
//   - ErrFailedPrecondition: Commit of a snapshot that is not active, Remove
//     of a snapshot that has children, Mounts of a committed snapshot,
//     UpperDir of a view.
type Snapshotter interface {
	// Stat returns the record of key.
	Stat(ctx context.Context, key string) (Info, error)
	// Usage measures the snapshot's own directory (UpperDir): for an
	// overlay snapshot the changes it makes, for a native one its full copy.
	Usage(ctx context.Context, key string) (Usage, error)
	// Mounts returns the mounts for an active snapshot or a view, the same
	// ones Prepare or View returned.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Prepare makes a writable snapshot key on top of the committed parent,
	// or empty when parent is "".
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// View makes a read-only snapshot key of the committed parent, or an
	// empty one when parent is "". Its mounts are read-only.
	View(ctx context.Context, key, parent string, opts ...Opt) ([]mount.Mount, error)
	// Commit records the active snapshot key as the committed snapshot
	// name; key stops existing. Unmount key's mounts first.
	Commit(ctx context.Context, name, key string, opts ...Opt) error
	// Remove deletes the snapshot key and its files. Unmount its mounts
	// first.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for each snapshot, in key order. It reads all records
	// first, so fn may call the snapshotter; fn's error stops the walk and
	// is returned.
	Walk(ctx context.Context, fn func(context.Context, Info) error) error
	// UpperDir returns the directory that holds key's own files: the
	// overlay upper directory, or the native full copy. Writing into it
	// directly is how a layer can be applied without mounting.
	UpperDir(ctx context.Context, key string) (string, error)
	// ParentDirs returns the directories key's parent chain is read from,
	// nearest parent first: each layer's upper directory for overlay, just
	// the parent's full copy for native; none without a parent.
	ParentDirs(ctx context.Context, key string) ([]string, error)
	// Cleanup unmounts whatever is mounted under the root, and removes
	// directories left by crashes: snapshot directories with no record,
	// half-made and half-removed ones, and work directories of committed
	// overlay snapshots.
	Cleanup(ctx context.Context) error
	// Close releases the snapshotter. The database is only open during
	// each call, so there is nothing held between calls.
	Close() error
}
