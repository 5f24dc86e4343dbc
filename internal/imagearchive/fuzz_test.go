package imagearchive

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/testutil"
)

// fixture is an archive's worth of valid parts: one layer, its config and
// an OCI manifest, stored both docker-style and OCI-style.
type fixture struct {
	layer, config, manifest []byte
	layerD, configD, manD   digest.Digest
}

func newFixture() fixture {
	var fx fixture
	fx.layer = testutil.NewTar().File("hello", []byte("hi\n"), 0o644).Bytes()
	fx.layerD = digest.FromBytes(fx.layer)
	fx.config, _ = json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{fx.layerD}}})
	fx.configD = digest.FromBytes(fx.config)
	fx.manifest, _ = json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: fx.configD, Size: int64(len(fx.config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: fx.layerD, Size: int64(len(fx.layer))}},
	})
	fx.manD = digest.FromBytes(fx.manifest)
	return fx
}

// archive writes a tar of the fixture's files plus name=data to a temp
// file.
func (fx fixture) archive(t *testing.T, dir, name string, data []byte) string {
	tb := testutil.NewTar()
	tb.File(blobPath(fx.layerD), fx.layer, 0o644)
	tb.File(blobPath(fx.configD), fx.config, 0o644)
	tb.File(blobPath(fx.manD), fx.manifest, 0o644)
	tb.File(fx.configD.Encoded()+".json", fx.config, 0o644)
	tb.File("l1/layer.tar", fx.layer, 0o644)
	tb.Symlink("l2/layer.tar", "../l1/layer.tar")
	tb.File(name, data, 0o644)
	f, err := os.CreateTemp(dir, "fuzz-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(tb.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// checkImages is the property: whatever Images accepts is consistent —
// digests of the JSON it returns match, layer paths are clean and inside
// the archive and can be opened for exactly their size, there is one
// diffID per layer, and names are valid tagged references.
func checkImages(t *testing.T, a *Archive, imgs []Image) {
	t.Helper()
	for _, img := range imgs {
		if digest.FromBytes(img.ConfigBytes) != img.ConfigDesc.Digest {
			t.Fatalf("config digest %s does not match its bytes", img.ConfigDesc.Digest)
		}
		if img.ManifestBytes != nil && digest.FromBytes(img.ManifestBytes) != img.ManifestDesc.Digest {
			t.Fatalf("manifest digest %s does not match its bytes", img.ManifestDesc.Digest)
		}
		if len(img.Layers) != len(img.Config.RootFS.DiffIDs) {
			t.Fatalf("%d layers, %d diff_ids", len(img.Layers), len(img.Config.RootFS.DiffIDs))
		}
		for _, l := range img.Layers {
			if path.Clean(l.Path) != l.Path || path.IsAbs(l.Path) || l.Path == ".." || strings.HasPrefix(l.Path, "../") {
				t.Fatalf("layer path %q is not clean and inside", l.Path)
			}
			rc, _, err := a.OpenLayer(l)
			if err != nil {
				t.Fatalf("accepted layer %s cannot be opened: %v", l.Path, err)
			}
			n, _ := io.Copy(io.Discard, rc)
			rc.Close()
			if n != l.Desc.Size {
				t.Fatalf("layer %s: %d bytes, want %d", l.Path, n, l.Desc.Size)
			}
			if l.Desc.MediaType != "" && l.Desc.Digest == "" {
				t.Fatalf("layer %s of an OCI manifest without a digest", l.Path)
			}
		}
		for _, n := range img.Names {
			named, err := reference.ParseNormalizedNamed(n)
			if err != nil || named.String() != n {
				t.Fatalf("name %q is not a normalized reference (%v)", n, err)
			}
			if _, ok := named.(reference.NamedTagged); !ok {
				t.Fatalf("name %q has no tag", n)
			}
		}
	}
}

func FuzzDockerManifest(f *testing.F) {
	fx := newFixture()
	cfg := fx.configD.Encoded() + ".json"
	for _, s := range []string{
		`[{"Config":"` + cfg + `","RepoTags":["a:b"],"Layers":["l1/layer.tar"]}]`,
		`[{"Config":"` + blobPath(fx.configD) + `","RepoTags":["busybox"],"Layers":["l2/layer.tar"]}]`,
		`[{"Config":"` + blobPath(fx.configD) + `","RepoTags":null,"Layers":["./` + blobPath(fx.layerD) + `"]}]`,
		`[{"Config":"../` + cfg + `","Layers":["l1/layer.tar"]}]`,
		`[{"Config":"` + cfg + `","Layers":["/etc/passwd"]}]`,
		`[{"Config":"` + cfg + `","RepoTags":["A:b"],"Layers":["l1/layer.tar"]}]`,
		`[]`, `{}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := fx.archive(t, dir, "manifest.json", data)
		defer os.Remove(p)
		a, err := Open(context.Background(), p, nil, filepath.Join(dir, "spool"))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer a.Close()
		imgs, err := a.Images(context.Background())
		if err != nil {
			return
		}
		checkImages(t, a, imgs)
	})
}

func FuzzIndex(f *testing.F) {
	fx := newFixture()
	desc := `{"mediaType":"` + ocispec.MediaTypeImageManifest + `","digest":"` + fx.manD.String() + `","size":` + itoa(len(fx.manifest))
	for _, s := range []string{
		`{"schemaVersion":2,"manifests":[` + desc + `,"annotations":{"io.containerd.image.name":"docker.io/library/x:1"}}]}`,
		`{"schemaVersion":2,"manifests":[` + desc + `,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`,
		`{"schemaVersion":2,"manifests":[` + desc + `},` + desc + `,"annotations":{"org.opencontainers.image.ref.name":"a/b:c"}}]}`,
		`{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:../../etc","size":1}]}`,
		`{"schemaVersion":2,"manifests":[]}`,
		`{"schemaVersion":1}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := fx.archive(t, dir, "index.json", data)
		defer os.Remove(p)
		a, err := Open(context.Background(), p, nil, filepath.Join(dir, "spool"))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer a.Close()
		imgs, err := a.Images(context.Background())
		if err != nil {
			return
		}
		if len(imgs) == 0 {
			t.Fatal("no error and no images")
		}
		checkImages(t, a, imgs)
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
