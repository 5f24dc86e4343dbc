package snapshottest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
)

// NewFunc opens a snapshotter on an empty root directory.
type NewFunc func(root string) (snapshot.Snapshotter, error)

type test func(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string)

// Run runs the suite on the snapshotter newFn makes, each test on a fresh
// root. It skips when not root.
func Run(t *testing.T, newFn NewFunc) {
	RequiresRoot(t)
	tests := []struct {
		name string
		fn   test
	}{
		{"Lifecycle", testLifecycle},
		{"Errors", testErrors},
		{"LayersFallThrough", testLayersFallThrough},
		{"LowerUnchanged", testLowerUnchanged},
		{"DeleteFromLower", testDeleteFromLower},
		{"ActiveIsolation", testActiveIsolation},
		{"ViewReadOnly", testViewReadOnly},
		{"Chain128", testChain128},
		{"Usage", testUsage},
		{"ConcurrentPrepare", testConcurrentPrepare},
		{"Cleanup", testCleanup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			sn, err := newFn(root)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sn.Close() })
			tt.fn(t, context.Background(), sn, root)
		})
	}
}

var ignoreTimes = cmpopts.IgnoreFields(snapshot.Info{}, "Created", "Updated")

func walkAll(t *testing.T, ctx context.Context, sn snapshot.Snapshotter) []snapshot.Info {
	t.Helper()
	var got []snapshot.Info
	if err := sn.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
		got = append(got, info)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func testLifecycle(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	labels := map[string]string{"strata/gc.root": "yes"}
	if _, err := sn.Prepare(ctx, "a", "", snapshot.WithLabels(labels)); err != nil {
		t.Fatal(err)
	}
	got, err := sn.Stat(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot.Info{Kind: snapshot.KindActive, Name: "a", Labels: labels}
	if diff := cmp.Diff(want, got, ignoreTimes); diff != "" {
		t.Errorf("Stat(a) (-want +got):\n%s", diff)
	}
	if got.Created.IsZero() || got.Updated.IsZero() {
		t.Errorf("Stat(a) has zero times: %+v", got)
	}
	if err := sn.Commit(ctx, "base", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "a"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stat(a) after commit: got %v, want ErrNotFound", err)
	}
	if _, err := sn.Prepare(ctx, "child", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.View(ctx, "view", "base"); err != nil {
		t.Fatal(err)
	}
	wantAll := []snapshot.Info{
		{Kind: snapshot.KindCommitted, Name: "base", Labels: labels},
		{Kind: snapshot.KindActive, Name: "child", Parent: "base"},
		{Kind: snapshot.KindView, Name: "view", Parent: "base"},
	}
	if diff := cmp.Diff(wantAll, walkAll(t, ctx, sn), ignoreTimes); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	// The key of a committed snapshot can be prepared again.
	if _, err := sn.Prepare(ctx, "a", "base"); err != nil {
		t.Errorf("Prepare(a) after commit: %v", err)
	}
	for _, k := range []string{"a", "child", "view", "base"} {
		if err := sn.Remove(ctx, k); err != nil {
			t.Fatalf("Remove(%s): %v", k, err)
		}
	}
	if got := walkAll(t, ctx, sn); len(got) != 0 {
		t.Errorf("Walk after removing all: %v", got)
	}
	ents, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil || len(ents) != 0 {
		t.Errorf("snapshots dir after removing all: %v, %v; want empty", ents, err)
	}
}

func testErrors(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "base", "", map[string]string{"f": "x"})
	if _, err := sn.Prepare(ctx, "active", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.View(ctx, "view", "base"); err != nil {
		t.Fatal(err)
	}
	mounts := func(key string) error { _, err := sn.Mounts(ctx, key); return err }
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"prepare existing active", func() error { _, err := sn.Prepare(ctx, "active", ""); return err }(), errdefs.ErrAlreadyExists},
		{"prepare existing committed", func() error { _, err := sn.Prepare(ctx, "base", ""); return err }(), errdefs.ErrAlreadyExists},
		{"view existing", func() error { _, err := sn.View(ctx, "view", "base"); return err }(), errdefs.ErrAlreadyExists},
		{"prepare empty key", func() error { _, err := sn.Prepare(ctx, "", ""); return err }(), errdefs.ErrInvalidArgument},
		{"prepare missing parent", func() error { _, err := sn.Prepare(ctx, "x", "missing"); return err }(), errdefs.ErrNotFound},
		{"prepare on active parent", func() error { _, err := sn.Prepare(ctx, "x", "active"); return err }(), errdefs.ErrInvalidArgument},
		{"commit missing", sn.Commit(ctx, "n", "missing"), errdefs.ErrNotFound},
		{"commit view", sn.Commit(ctx, "n", "view"), errdefs.ErrFailedPrecondition},
		{"commit committed", sn.Commit(ctx, "n", "base"), errdefs.ErrFailedPrecondition},
		{"commit to existing name", sn.Commit(ctx, "base", "active"), errdefs.ErrAlreadyExists},
		{"commit empty name", sn.Commit(ctx, "", "active"), errdefs.ErrInvalidArgument},
		{"remove missing", sn.Remove(ctx, "missing"), errdefs.ErrNotFound},
		{"remove parent with children", sn.Remove(ctx, "base"), errdefs.ErrFailedPrecondition},
		{"stat missing", func() error { _, err := sn.Stat(ctx, "missing"); return err }(), errdefs.ErrNotFound},
		{"mounts missing", mounts("missing"), errdefs.ErrNotFound},
		{"mounts committed", mounts("base"), errdefs.ErrFailedPrecondition},
		{"upper dir of view", func() error { _, err := sn.UpperDir(ctx, "view"); return err }(), errdefs.ErrFailedPrecondition},
		{"usage missing", func() error { _, err := sn.Usage(ctx, "missing"); return err }(), errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
	// Failed calls changed nothing.
	if _, err := sn.Stat(ctx, "active"); err != nil {
		t.Errorf("Stat(active) after failed commits: %v", err)
	}
	if _, err := sn.Stat(ctx, "base"); err != nil {
		t.Errorf("Stat(base) after failed remove: %v", err)
	}
}

func testLayersFallThrough(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "l1", "", map[string]string{"a": "l1", "dir/b": "l1", "shared": "l1", "dir/shared": "l1"})
	commitLayer(t, ctx, sn, "l2", "l1", map[string]string{"shared": "l2", "c": "l2"})
	commitLayer(t, ctx, sn, "l3", "l2", map[string]string{"dir/shared": "l3"})
	mounts, err := sn.Prepare(ctx, "top", "l3")
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts)
	checkFiles(t, target, map[string]string{"a": "l1", "dir/b": "l1", "shared": "l2", "c": "l2", "dir/shared": "l3"})
	writeFiles(t, target, map[string]string{"shared": "top", "new": "top"})
	checkFiles(t, target, map[string]string{"shared": "top", "new": "top"})

	dirs, err := sn.ParentDirs(ctx, "top")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("ParentDirs(top) = %v, %v; want the nearest first", dirs, err)
	}
	checkFiles(t, dirs[0], map[string]string{"dir/shared": "l3"}, "new")
	upper, err := sn.UpperDir(ctx, "top")
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, upper, map[string]string{"new": "top", "shared": "top"})
}

func testLowerUnchanged(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "l1", "", map[string]string{"f": "original", "d/g": "g", "d/e/h": "h"})
	commitLayer(t, ctx, sn, "l2", "l1", map[string]string{"k": "k"})
	mounts, err := sn.Prepare(ctx, "top", "l2")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := sn.ParentDirs(ctx, "top")
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]map[string]string{}
	for _, d := range dirs {
		before[d] = tree(t, d)
	}
	target := mountTemp(t, mounts)
	writeFiles(t, target, map[string]string{"f": "changed", "d/e/h": "changed", "k": "changed"})
	f, err := os.OpenFile(filepath.Join(target, "d/g"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("+appended")
	f.Close()
	if err := os.Chmod(filepath.Join(target, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, target, map[string]string{"f": "changed", "d/g": "g+appended", "d/e/h": "changed", "k": "changed"})
	for _, d := range dirs {
		if diff := cmp.Diff(before[d], tree(t, d)); diff != "" {
			t.Errorf("parent dir %s changed (-before +after):\n%s", d, diff)
		}
	}
}

func testDeleteFromLower(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "l1", "", map[string]string{"keep": "k", "f": "f", "d/x": "x", "d/sub/y": "y", "d2/z": "z"})
	mounts, err := sn.Prepare(ctx, "del", "l1")
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts)
	if err := os.Remove(filepath.Join(target, "f")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(target, "d")); err != nil {
		t.Fatal(err)
	}
	// A directory deleted and made again shows none of its old entries.
	if err := os.RemoveAll(filepath.Join(target, "d2")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, target, map[string]string{"d2/new": "new"})
	checkFiles(t, target, map[string]string{"keep": "k", "d2/new": "new"}, "f", "d", "d2/z")
	unmount(t, target)
	if err := sn.Commit(ctx, "l2", "del"); err != nil {
		t.Fatal(err)
	}

	// Deletions hold in children and views of the committed layer.
	mounts, err = sn.Prepare(ctx, "child", "l2")
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, mountTemp(t, mounts), map[string]string{"keep": "k", "d2/new": "new"}, "f", "d", "d2/z")
	commitLayer(t, ctx, sn, "l3", "l2", map[string]string{"other": "o"})
	mounts, err = sn.View(ctx, "view", "l3")
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, mountTemp(t, mounts), map[string]string{"keep": "k", "d2/new": "new", "other": "o"}, "f", "d", "d2/z")
}

func testActiveIsolation(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "base", "", map[string]string{"shared": "base"})
	m1, err := sn.Prepare(ctx, "one", "base")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := sn.Prepare(ctx, "two", "base")
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := mountTemp(t, m1), mountTemp(t, m2)
	writeFiles(t, t1, map[string]string{"shared": "one", "only-one": "1"})
	writeFiles(t, t2, map[string]string{"only-two": "2"})
	if err := os.Remove(filepath.Join(t2, "shared")); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, t1, map[string]string{"shared": "one", "only-one": "1"}, "only-two")
	checkFiles(t, t2, map[string]string{"only-two": "2"}, "only-one", "shared")
}

func testViewReadOnly(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "l1", "", map[string]string{"a": "1"})
	commitLayer(t, ctx, sn, "l2", "l1", map[string]string{"b": "2"})
	for _, tt := range []struct{ name, parent string }{{"empty", ""}, {"one layer", "l1"}, {"two layers", "l2"}} {
		t.Run(tt.name, func(t *testing.T) {
			mounts, err := sn.View(ctx, "view "+tt.name, tt.parent)
			if err != nil {
				t.Fatal(err)
			}
			target := mountTemp(t, mounts)
			err = os.WriteFile(filepath.Join(target, "new"), nil, 0o644)
			if !errors.Is(err, unix.EROFS) {
				t.Errorf("write to view: got %v, want EROFS", err)
			}
			if tt.parent == "l2" {
				checkFiles(t, target, map[string]string{"a": "1", "b": "2"})
			}
		})
	}
}

func testChain128(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	const n = 128
	parent := ""
	want := map[string]string{}
	for i := range n {
		key, name := fmt.Sprintf("extract %d", i), fmt.Sprintf("layer-%d", i)
		if _, err := sn.Prepare(ctx, key, parent); err != nil {
			t.Fatal(err)
		}
		// Applying a layer straight into the upper dir, as an unpacker
		// may, keeps the test fast; the mount below reads all of them.
		upper, err := sn.UpperDir(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{fmt.Sprintf("file-%d", i): name, "top": name}
		writeFiles(t, upper, files)
		if err := sn.Commit(ctx, name, key); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("file-%d", i)] = name
		parent = name
	}
	want["top"] = parent
	mounts, err := sn.Prepare(ctx, "container", parent)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, mountTemp(t, mounts), want)
	mounts, err = sn.View(ctx, "view", parent)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, mountTemp(t, mounts), want)
}

func testUsage(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	mounts, err := sn.Prepare(ctx, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts)
	const size = 64 << 10
	if err := os.WriteFile(filepath.Join(target, "big"), make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(target, "big"), filepath.Join(target, "link")); err != nil {
		t.Fatal(err)
	}
	unmount(t, target)
	u, err := sn.Usage(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// The root dir and one inode for both names.
	if u.Inodes != 2 || u.Size < size || u.Size >= 2*size {
		t.Errorf("Usage = %+v, want 2 inodes and %d to %d bytes", u, size, 2*size)
	}
}

func testConcurrentPrepare(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "base", "", map[string]string{"f": "x"})
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = sn.Prepare(ctx, "same", "base")
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errdefs.ErrAlreadyExists):
			t.Errorf("Prepare: got %v, want nil or ErrAlreadyExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent Prepares of one key succeeded, want 1", won, n)
	}
	ents, err := os.ReadDir(filepath.Join(root, "snapshots"))
	if err != nil || len(ents) != 2 {
		t.Errorf("snapshots dir has %d entries (%v), want 2: the losers left nothing", len(ents), err)
	}
}

func testCleanup(t *testing.T, ctx context.Context, sn snapshot.Snapshotter, root string) {
	commitLayer(t, ctx, sn, "base", "", map[string]string{"f": "base"})
	mounts, err := sn.Prepare(ctx, "active", "base")
	if err != nil {
		t.Fatal(err)
	}
	upper, err := sn.UpperDir(ctx, "active")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, upper, map[string]string{"mine": "active"})
	leftovers := []string{"9999/fs/file", "rm-77/fs/file", "new-999999999-abc/fs/file"}
	for _, l := range leftovers {
		writeFiles(t, filepath.Join(root, "snapshots"), map[string]string{l: "junk"})
	}
	// A mount a crashed process left under the root.
	leftMount := filepath.Join(root, "leftover-mount")
	if err := os.Mkdir(leftMount, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(mounts, leftMount); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(leftMount, 0) })

	baseUpper, err := sn.UpperDir(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	// A committed snapshot keeps only its files: an overlay work dir is
	// of use only while active.
	if ents, err := os.ReadDir(filepath.Dir(baseUpper)); err != nil || len(ents) != 1 {
		t.Errorf("committed snapshot dir after Cleanup: %v, %v; want only fs", ents, err)
	}
	if m, err := mount.MountedUnder(root); err != nil || len(m) != 0 {
		t.Errorf("mounted under root after Cleanup: %v, %v", m, err)
	}
	for _, l := range leftovers {
		if _, err := os.Lstat(filepath.Join(root, "snapshots", filepath.Dir(filepath.Dir(l)))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s: got %v, want it removed", l, err)
		}
	}
	wantAll := []snapshot.Info{
		{Kind: snapshot.KindActive, Name: "active", Parent: "base"},
		{Kind: snapshot.KindCommitted, Name: "base"},
	}
	if diff := cmp.Diff(wantAll, walkAll(t, ctx, sn), ignoreTimes); diff != "" {
		t.Errorf("Walk after Cleanup (-want +got):\n%s", diff)
	}
	checkFiles(t, mountTemp(t, mounts), map[string]string{"f": "base", "mine": "active"})
	// Cleanup twice is fine.
	if err := sn.Cleanup(ctx); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}
