package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/testutil"
)

// baseLayer is the parent rootfs used by the diff tests.
func baseLayer() *testutil.Tar {
	return testutil.NewTar().
		Dir("etc", 0o755).
		File("etc/motd", []byte("welcome"), 0o644).
		File("etc/hosts", []byte("127.0.0.1 localhost\n"), 0o644).
		File("etc/hostname", []byte("abc"), 0o644).
		Symlink("etc/localtime", "/usr/share/zoneinfo/UTC").
		Dir("var", 0o755).
		Dir("var/cache", 0o755).
		Dir("var/cache/apt", 0o755).
		File("var/cache/apt/pkgcache.bin", []byte("cache"), 0o644).
		File("var/cache/ldconfig", []byte("ld"), 0o600).
		Dir("opt", 0o755).
		Dir("opt/tool", 0o755).
		File("opt/tool/bin", []byte("#!/bin/sh\n"), 0o755).
		Dir("opt/tool/share", 0o755).
		File("opt/tool/share/doc", []byte("docs"), 0o644).
		Dir("d2f", 0o755).
		File("d2f/x", []byte("x"), 0o644).
		File("f2d", []byte("f"), 0o644).
		Dir("untouched", 0o755).
		File("untouched/file", []byte("same"), 0o644)
}

// tarEntries lists "name" (and "name -> link") of every entry of a tar.
func tarEntries(t *testing.T, b []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hdr.Name)
	}
}

func applyAll(t *testing.T, root string, layers ...[]byte) {
	t.Helper()
	for i, l := range layers {
		if _, err := Apply(context.Background(), root, bytes.NewReader(l), ApplyOptions{}); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
}

func TestWriteDiff(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	base := baseLayer().Bytes()
	lower, upper := t.TempDir(), t.TempDir()
	applyAll(t, lower, base)
	applyAll(t, upper, base) // the plain-copy snapshotter's copy

	u := fixture{t, upper}
	u.must(os.Remove(u.path("etc/motd")))
	u.must(os.RemoveAll(u.path("opt/tool")))
	u.file("etc/hosts", "127.0.0.1 localhost\n10.0.0.1 db\n", 0o644)
	u.file("var/cache/new", "n", 0o644)
	u.must(os.Chmod(u.path("var/cache/ldconfig"), 0o644))
	u.must(os.Remove(u.path("etc/localtime")))
	u.symlink("etc/localtime", "/usr/share/zoneinfo/Europe/Paris")
	u.must(os.RemoveAll(u.path("d2f")))
	u.file("d2f", "now a file", 0o644)
	u.must(os.Remove(u.path("f2d")))
	u.dir("f2d/sub", 0o755)
	u.xattr("var/cache/apt/pkgcache.bin", "user.k", "v")
	// Same size, mtime restored to a whole second: only content shows it.
	u.must(os.WriteFile(u.path("etc/hostname"), []byte("xyz"), 0o644))
	ts := []unix.Timespec{unix.NsecToTimespec(testutil.TarModTime.UnixNano()), unix.NsecToTimespec(testutil.TarModTime.UnixNano())}
	u.must(unix.UtimesNanoAt(unix.AT_FDCWD, u.path("etc/hostname"), ts, 0))

	var diff bytes.Buffer
	if err := WriteDiff(ctx, &diff, lower, upper, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"d2f", "etc/", "etc/.wh.motd", "etc/hostname", "etc/hosts", "etc/localtime",
		"f2d/", "f2d/sub/", "opt/", "opt/.wh.tool",
		"var/", "var/cache/", "var/cache/apt/", "var/cache/apt/pkgcache.bin", "var/cache/ldconfig", "var/cache/new",
	}
	if d := cmp.Diff(want, tarEntries(t, diff.Bytes())); d != "" {
		t.Errorf("diff entries (-want +got):\n%s", d)
	}

	changes, err := Changes(ctx, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	wantChanges := []string{
		"C /d2f", "C /etc", "D /etc/motd", "C /etc/hostname", "C /etc/hosts", "C /etc/localtime",
		"C /f2d", "A /f2d/sub", "C /opt", "D /opt/tool",
		"C /var/cache", "C /var/cache/apt/pkgcache.bin", "C /var/cache/ldconfig", "A /var/cache/new",
	}
	if d := cmp.Diff(wantChanges, got); d != "" {
		t.Errorf("Changes (-want +got):\n%s", d)
	}

	fresh := t.TempDir()
	applyAll(t, fresh, base, diff.Bytes())
	if d := cmp.Diff(readTree(t, upper), readTree(t, fresh)); d != "" {
		t.Errorf("base+diff vs upper (-want +got):\n%s", d)
	}

	var none bytes.Buffer
	if err := WriteDiff(ctx, &none, upper, upper, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := tarEntries(t, none.Bytes()); len(e) != 0 {
		t.Errorf("diff of a tree with itself has entries %q", e)
	}
}

func TestWriteOverlayDiff(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	base := baseLayer().Bytes()
	dir := t.TempDir()
	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	applyAll(t, lower, base)
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		if errors.Is(err, unix.ENODEV) {
			t.Skip("skipping: overlayfs is not available in this kernel")
		}
		t.Fatalf("mount overlay: %v", err)
	}
	mounted := true
	unmount := func() {
		if mounted {
			if err := unix.Unmount(merged, 0); err != nil {
				t.Errorf("unmount: %v", err)
			}
			mounted = false
		}
	}
	defer unmount()

	m := fixture{t, merged}
	m.must(os.Remove(m.path("etc/motd")))                  // whiteout
	m.must(os.RemoveAll(m.path("var/cache")))              // rm -rf and recreate: opaque
	m.file("var/cache/fresh", "only this", 0o644)          //
	m.file("etc/hosts", "127.0.0.1 localhost db\n", 0o644) // modify
	m.file("new/file", "added", 0o600)                     // add
	m.must(os.Chmod(m.path("untouched/file"), 0o600))      // metadata-only copy-up
	want := readTree(t, merged)
	lowerExists := func(p string) bool {
		_, err := os.Lstat(filepath.Join(lower, p))
		return err == nil
	}
	unmount()

	var layer bytes.Buffer
	if err := WriteOverlayDiff(ctx, &layer, upper, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	entries := tarEntries(t, layer.Bytes())
	wantEntries := []string{
		"etc/", "etc/hosts", "etc/.wh.motd", "new/", "new/file", "untouched/", "untouched/file",
		"var/", "var/cache/", "var/cache/.wh..wh..opq", "var/cache/fresh",
	}
	if d := cmp.Diff(wantEntries, entries); d != "" {
		t.Errorf("overlay diff entries (-want +got):\n%s", d)
	}
	tr := tar.NewReader(bytes.NewReader(layer.Bytes()))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		for k := range hdr.PAXRecords {
			if strings.Contains(k, "overlay.") {
				t.Errorf("%s: records %s", hdr.Name, k)
			}
		}
	}

	fresh := t.TempDir()
	applyAll(t, fresh, base, layer.Bytes())
	if d := cmp.Diff(want, readTree(t, fresh)); d != "" {
		t.Errorf("base+overlay diff vs merged view (-want +got):\n%s", d)
	}

	changes, err := OverlayChanges(ctx, upper, lowerExists)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	wantChanges := []string{
		"C /etc", "C /etc/hosts", "D /etc/motd", "A /new", "A /new/file", "C /untouched", "C /untouched/file",
		"C /var", "C /var/cache", "A /var/cache/fresh",
	}
	if d := cmp.Diff(wantChanges, got); d != "" {
		t.Errorf("OverlayChanges (-want +got):\n%s", d)
	}
}
