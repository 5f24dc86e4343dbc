package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWritePath(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d", "e"), 0o755)
	os.WriteFile(filepath.Join(src, "d", "f"), []byte("f"), 0o644)
	os.WriteFile(filepath.Join(src, "d", "e", "g"), []byte("g"), 0o600)
	os.Symlink("f", filepath.Join(src, "d", "l"))
	cases := []struct {
		name, path, top string
		want            []string
	}{
		{"dir", "d", "copy", []string{"copy/", "copy/e/", "copy/e/g", "copy/f", "copy/l"}},
		{"file", "d/f", "x", []string{"x"}},
		{"dot", "d/e", ".", []string{"./", "g"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WritePath(context.Background(), &buf, filepath.Join(src, tc.path), tc.top, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			var got []string
			tr := tar.NewReader(&buf)
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, hdr.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriteDirShared: an inode a file pool shares is not a hard link of
// the tree; one that is not shared still is.
func TestWriteDirShared(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "c"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "c"), filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	pooled := fi.Sys().(*syscall.Stat_t).Ino
	var buf bytes.Buffer
	if err := WriteDir(context.Background(), &buf, dir, WriteOptions{Shared: func(ino uint64) bool { return ino == pooled }}); err != nil {
		t.Fatal(err)
	}
	got := map[string]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Typeflag
	}
	want := map[string]byte{"a": tar.TypeReg, "b": tar.TypeReg, "c": tar.TypeReg, "d": tar.TypeLink}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entry types (-want +got):\n%s", diff)
	}
}
