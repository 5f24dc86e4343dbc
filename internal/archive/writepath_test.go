package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
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
