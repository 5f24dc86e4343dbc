package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/testutil"
)

func openTest(t *testing.T) *Engine {
	t.Helper()
	return openTestCache(t, "")
}

// openTestCache opens a store whose blob cache keeps size bytes ("": the
// default, none), for tests of what a kept blob is used for.
func openTestCache(t *testing.T, size string) *Engine {
	t.Helper()
	e, err := Open(context.Background(), Options{Root: t.TempDir(), BlobCacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// state is everything the store holds, to show an operation changed nothing.
type state struct {
	Blobs     []string
	Images    []string
	Snapshots []string
}

func storeState(t *testing.T, e *Engine) state {
	t.Helper()
	ctx := context.Background()
	var s state
	if err := e.Content.Walk(ctx, func(i content.Info) error {
		s.Blobs = append(s.Blobs, i.Digest.String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	list, err := e.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		s.Images = append(s.Images, r.Repository+":"+r.Tag+"@"+r.ID.String())
	}
	if err := e.Snap.Walk(ctx, func(ctx context.Context, i snapshot.Info) error {
		if i.Kind == snapshot.KindCommitted {
			s.Snapshots = append(s.Snapshots, i.Name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(s.Blobs)
	sort.Strings(s.Images)
	sort.Strings(s.Snapshots)
	return s
}

func busybox(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, dir)
	return dir
}

func TestImportBusybox(t *testing.T) {
	ctx := context.Background()
	e := openTest(t)
	id, err := e.Import(ctx, ImportOptions{Source: busybox(t), Ref: "busybox", Changes: []string{`CMD ["sh"]`, "ENV A=1 B=2", "EXPOSE 80", "WORKDIR /root"}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Repository != "busybox" || list[0].Tag != "latest" || list[0].ID != id {
		t.Fatalf("images = %+v, want busybox:latest %s", list, id)
	}
	ins, err := e.InspectImage(ctx, "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sh"}, ins.Config.Cmd); diff != "" {
		t.Errorf("Cmd (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"A=1", "B=2"}, ins.Config.Env); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	if ins.Config.WorkingDir != "/root" || len(ins.Config.ExposedPorts) != 1 {
		t.Errorf("config = %+v", ins.Config)
	}
	if len(ins.RootFS.Layers) != 1 || ins.Size == 0 {
		t.Errorf("rootfs = %+v size %d", ins.RootFS, ins.Size)
	}
	// the snapshot holds the files
	up := ins.GraphDriver.Data["UpperDir"]
	if _, err := os.Stat(filepath.Join(up, "bin", "busybox")); err != nil {
		t.Errorf("unpacked layer lacks bin/busybox: %v", err)
	}
	// by ID prefix too
	if _, err := e.InspectImage(ctx, id.Encoded()[:8]); err != nil {
		t.Errorf("inspect by ID prefix: %v", err)
	}
	hist, err := e.History(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].ID != id.String() || !strings.HasPrefix(hist[0].Comment, "Imported from") {
		t.Errorf("history = %+v", hist)
	}
	rep, err := e.Fsck(ctx)
	if err != nil || !rep.Clean() {
		t.Fatalf("fsck = %+v, %v", rep, err)
	}
}

func TestImportSharesLayers(t *testing.T) {
	ctx := context.Background()
	e := openTest(t)
	root := busybox(t)
	id1, err := e.Import(ctx, ImportOptions{Source: root, Ref: "one"})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.Import(ctx, ImportOptions{Source: root, Ref: "two", Message: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 {
		t.Fatalf("two imports with different comments share an ID")
	}
	s := storeState(t, e)
	if len(s.Snapshots) != 1 {
		t.Errorf("snapshots = %v, want the layer unpacked once", s.Snapshots)
	}
	du, err := e.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var unique int64
	for _, i := range du.Images {
		unique += i.UniqueSize
	}
	if du.SharedSize == 0 || unique+du.SharedSize != du.LayersSize {
		t.Errorf("df: shared %d + unique %d != layers %d", du.SharedSize, unique, du.LayersSize)
	}
	// df's total is what du sees of the unpacked layers
	if out, err := exec.Command("du", "-s", "--block-size=1", filepath.Join(e.Root(), "snapshots")).Output(); err == nil {
		var n int64
		fmt.Sscan(string(out), &n)
		if du.LayersSize > n || du.LayersSize < n-256<<10 { // du also counts the snapshotter's own dirs and db
			t.Errorf("df layers %d bytes, du of the snapshots dir %d", du.LayersSize, n)
		}
	}
	// removing one keeps the shared layer; removing both frees it
	if _, err := e.RemoveImage(ctx, "one", false); err != nil {
		t.Fatal(err)
	}
	if s := storeState(t, e); len(s.Snapshots) != 1 {
		t.Errorf("after rmi one: snapshots = %v", s.Snapshots)
	}
	res, err := e.RemoveImage(ctx, "two", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"two:latest"}, res.Untagged); diff != "" {
		t.Errorf("untagged (-want +got):\n%s", diff)
	}
	if s := storeState(t, e); len(s.Snapshots)+len(s.Blobs)+len(s.Images) != 0 {
		t.Errorf("after removing every image the store still has %+v", s)
	}
}

func TestRemoveByIDNeedsForce(t *testing.T) {
	ctx := context.Background()
	e := openTest(t)
	id, err := e.Import(ctx, ImportOptions{Source: busybox(t), Ref: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Tag(ctx, "a", "b:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveImage(ctx, id.Encoded()[:12], false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("rmi by ID of a twice-named image: %v, want a conflict", err)
	}
	res, err := e.RemoveImage(ctx, id.Encoded()[:12], true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Untagged) != 2 || len(res.Deleted) != 1 {
		t.Errorf("rmi -f = %+v", res)
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestImportBadInputLeavesStoreUnchanged(t *testing.T) {
	ctx := context.Background()
	e := openTest(t)
	if _, err := e.Import(ctx, ImportOptions{Source: busybox(t), Ref: "base"}); err != nil {
		t.Fatal(err)
	}
	good := testutil.NewTar().Dir("etc", 0o755).File("etc/hosts", []byte("127.0.0.1 localhost\n"), 0o644).Bytes()
	gz := gzipped(good)
	cases := []struct {
		name  string
		input []byte
		ref   string
		want  string
	}{
		{"dotdot", testutil.NewTar().File("../escape", []byte("x"), 0o644).Bytes(), "x", "escape"},
		{"symlink then write through it", testutil.NewTar().Symlink("evil", "/etc").File("evil/passwd", []byte("x"), 0o644).Bytes(), "x", "evil"},
		{"hardlink outside", testutil.NewTar().Hardlink("h", "../../etc/passwd").Bytes(), "x", "h"},
		{"truncated gzip", gz[:len(gz)/2], "x", "gzip"},
		{"corrupt gzip", append(append([]byte{}, gz[:20]...), bytes.Repeat([]byte{0xff}, 200)...), "x", "gzip"},
		{"bad name", good, "UPPER/Case", "invalid reference format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := storeState(t, e)
			f := filepath.Join(t.TempDir(), "in.tar")
			if err := os.WriteFile(f, tc.input, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := e.Import(ctx, ImportOptions{Source: f, Ref: tc.ref})
			if err == nil {
				t.Fatal("import succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if diff := cmp.Diff(before, storeState(t, e)); diff != "" {
				t.Errorf("store changed (-before +after):\n%s", diff)
			}
			if rep, err := e.Fsck(ctx); err != nil || !rep.Clean() {
				t.Errorf("fsck after failed import: %+v %v", rep.Problems, err)
			}
		})
	}
}

func TestFsckFindsCorruptBlob(t *testing.T) {
	ctx := context.Background()
	e := openTestCache(t, "1g") // a blob kept, to corrupt
	if _, err := e.Import(ctx, ImportOptions{Source: busybox(t), Ref: "base"}); err != nil {
		t.Fatal(err)
	}
	img, err := e.ResolveImage(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.Content.BlobPath(img.Manifest.Layers[0].Digest)
	os.Chmod(p, 0o644)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 100)
	f.WriteAt([]byte{b[0] ^ 0xff}, 100) // flip, so the byte surely changes
	f.Close()
	rep, err := e.Fsck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean() || !strings.Contains(strings.Join(rep.Problems, "\n"), img.Manifest.Layers[0].Digest.String()) {
		t.Errorf("fsck problems = %q, want the corrupt layer named", rep.Problems)
	}
}

func TestTagMovesAndLeavesDangling(t *testing.T) {
	ctx := context.Background()
	e := openTest(t)
	root := busybox(t)
	if _, err := e.Import(ctx, ImportOptions{Source: root, Ref: "app:v1", Message: "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Import(ctx, ImportOptions{Source: root, Ref: "app:v1", Message: "second"}); err != nil {
		t.Fatal(err)
	}
	list, _ := e.ListImages(ctx)
	var tags []string
	for _, r := range list {
		tags = append(tags, r.Repository+":"+r.Tag)
	}
	sort.Strings(tags)
	if diff := cmp.Diff([]string{"<none>:<none>", "app:v1"}, tags); diff != "" {
		t.Errorf("images after moving a tag (-want +got):\n%s", diff)
	}
	deleted, _, err := e.PruneImages(ctx, false, nil)
	if err != nil || len(deleted) != 1 {
		t.Fatalf("prune deleted %v, %v; want the dangling image", deleted, err)
	}
	if _, err := e.ResolveImage(ctx, "app:v1"); err != nil {
		t.Errorf("prune removed the tagged image: %v", err)
	}
}

func TestUnknownImage(t *testing.T) {
	e := openTest(t)
	_, err := e.InspectImage(context.Background(), "nosuch:tag")
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "no such image") {
		t.Errorf("inspect of an unknown image: %v", err)
	}
}

// The unpacked snapshot is the permanent copy of a layer: with the tar-split
// index kept at import, the exact tar (and so the diffID) comes back from it.
func TestLayerRebuildsFromSnapshot(t *testing.T) {
	ctx := context.Background()
	e := openTest(t)
	if _, err := e.Import(ctx, ImportOptions{Source: busybox(t), Ref: "base"}); err != nil {
		t.Fatal(err)
	}
	img, err := e.ResolveImage(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	var rec metadata.Layer
	e.DB.View(ctx, func(tx *metadata.Tx) error { rec, err = tx.Layer(img.DiffIDs()[0]); return err })
	if err != nil || rec.Index == nil {
		t.Fatalf("layer record %+v, %v: want a tar-split index", rec, err)
	}
	idx, err := e.Content.Reader(ctx, *rec.Index)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	zr, _, err := archive.Decompress(idx)
	if err != nil {
		t.Fatal(err)
	}
	up, err := e.Snap.UpperDir(ctx, img.ChainID().String())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if err := archive.Rebuild(ctx, h, up, zr); err != nil {
		t.Fatal(err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != img.DiffIDs()[0] {
		t.Errorf("rebuilt tar has diffID %s, want %s", got, img.DiffIDs()[0])
	}
}
