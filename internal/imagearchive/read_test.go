package imagearchive

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"manifest.json", "manifest.json", true},
		{"./blobs/sha256/ab", "blobs/sha256/ab", true},
		{"a//b/./c", "a/b/c", true},
		{"../x", "", false},
		{"a/../../x", "", false},
		{"a/../x", "", false}, // any ".." is refused, even one that stays inside
		{"/etc/passwd", "", false},
		{"a\x00b", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cleanName(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("cleanName(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestDockerManifestThroughSymlink reads the fuzz fixture with a layer that
// is a symlink to another layer, as docker's old format writes duplicates.
func TestDockerManifestThroughSymlink(t *testing.T) {
	fx := newFixture()
	dir := t.TempDir()
	dm := `[{"Config":"` + fx.configD.Encoded() + `.json","RepoTags":["busybox"],"Layers":["l2/layer.tar"]}]`
	a, err := Open(context.Background(), fx.archive(t, dir, "manifest.json", []byte(dm)), nil, filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	imgs, err := a.Images(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		t.Fatalf("%d images", len(imgs))
	}
	if diff := cmp.Diff([]string{"docker.io/library/busybox:latest"}, imgs[0].Names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	checkImages(t, a, imgs)
}
