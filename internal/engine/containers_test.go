package engine

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/testutil"
)

func TestCreateContainerUnknownImage(t *testing.T) {
	testutil.RequiresRoot(t)
	e := openTest(t)
	_, err := e.CreateContainer(context.Background(), "nosuch:1", container.CreateOptions{})
	var nf *ImageNotFoundError
	if !errors.As(err, &nf) || !errdefs.IsNotFound(err) || !strings.HasPrefix(err.Error(), "Unable to find image 'nosuch:1' locally") {
		t.Fatalf("got %v, want an ImageNotFoundError", err)
	}
}

// Commit of a created container (no runc needed): one new layer on the
// shared base, a history row, the container's command; the container's
// snapshot and its image survive gc after the image lost its name, and a
// second commit then still works.
func TestCommitContainer(t *testing.T) {
	testutil.RequiresRoot(t)
	testutil.RequiresBusybox(t)
	ctx := context.Background()
	e := openTestCache(t, "1g") // the new layer's blob is read below
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	os.WriteFile(filepath.Join(rootfs, "etc/old.txt"), []byte("old\n"), 0o644)
	if _, err := e.Import(ctx, ImportOptions{Source: rootfs, Ref: "bb", Changes: []string{`CMD ["sh"]`}}); err != nil {
		t.Fatal(err)
	}
	base, err := e.ResolveImage(ctx, "bb")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.CreateContainer(ctx, "bb", container.CreateOptions{Name: "box", Cmd: []string{"sh", "-c", "edit"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := e.Containers(); err == nil {
			s.Remove(context.Background(), c.ID, true)
		}
	})
	if users, err := e.ContainerUsers(ctx, base.ID()); err != nil || !cmp.Equal(users, []string{"box"}) {
		t.Errorf("ContainerUsers = %v, %v; want [box]", users, err)
	}
	upper, err := e.Snap.UpperDir(ctx, c.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(upper, "etc"), 0o755)
	os.WriteFile(filepath.Join(upper, "etc/new.txt"), []byte("new\n"), 0o644)
	if e.Driver() == "overlay" {
		if err := unix.Mknod(filepath.Join(upper, "etc/old.txt"), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}

	id, err := e.CommitContainer(ctx, "box", CommitOptions{Ref: "bb:v2", Message: "msg", Author: "me"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.ResolveImage(ctx, "bb:v2")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID() != id {
		t.Errorf("commit returned %s, the image is %s", id, img.ID())
	}
	if len(img.Manifest.Layers) != 2 || img.Manifest.Layers[0].Digest != base.Manifest.Layers[0].Digest {
		t.Errorf("layers %v: want the base's layer and one new", img.Manifest.Layers)
	}
	last := img.Config.History[len(img.Config.History)-1]
	if last.CreatedBy != "sh -c edit" || last.Comment != "msg" || last.Author != "me" || img.Config.Author != "me" {
		t.Errorf("history row %+v, author %q", last, img.Config.Author)
	}
	if !cmp.Equal(img.Config.Config.Cmd, []string{"sh", "-c", "edit"}) {
		t.Errorf("Cmd = %v", img.Config.Config.Cmd)
	}
	rc, err := e.Content.Reader(ctx, img.Manifest.Layers[1])
	if err != nil {
		t.Fatal(err)
	}
	zr, _, err := archive.Decompress(rc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, strings.TrimPrefix(hdr.Name, "./"))
	}
	zr.Close()
	rc.Close()
	want := []string{"etc/", "etc/new.txt"}
	if e.Driver() == "overlay" {
		want = []string{"etc/", "etc/.wh.old.txt", "etc/new.txt"}
	}
	sort.Strings(names)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("new layer entries (-want +got):\n%s", diff)
	}

	// The base image loses its name; gc keeps what the container needs.
	if err := e.DB.Update(ctx, func(tx *metadata.Tx) error { return tx.DeleteImage("docker.io/library/bb:latest") }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Snap.UpperDir(ctx, c.SnapshotKey); err != nil {
		t.Errorf("container snapshot gone after gc: %v", err)
	}
	if _, err := e.CommitContainer(ctx, c.ID, CommitOptions{Ref: "bb:v3"}); err != nil {
		t.Errorf("commit after the base lost its name: %v", err)
	}
	rep, err := e.Fsck(ctx)
	if err != nil || !rep.Clean() {
		t.Errorf("fsck: %v %v", rep.Problems, err)
	}
}
