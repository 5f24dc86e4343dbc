package engine_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/imagearchive"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/testutil"
)

func openEngine(t *testing.T) *engine.Engine {
	t.Helper()
	testutil.RequiresRoot(t)
	e, err := engine.Open(context.Background(), engine.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// busyboxImage imports a busybox rootfs (plus extra files) as ref and
// returns the rootfs directory.
func busyboxImage(t *testing.T, e *engine.Engine, ref string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Import(context.Background(), engine.ImportOptions{Source: dir, Ref: ref}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func save(t *testing.T, e *engine.Engine, refs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Save(context.Background(), &buf, refs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree describes every entry under dir: type, mode, size and content hash
// or link target.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %o", fi.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("file %o %d %x", fi.Mode().Perm(), fi.Size(), sum[:8])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(out, ".")
	return out
}

// imageTree mounts a view of the image's top layer and describes it.
func imageTree(t *testing.T, e *engine.Engine, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	img, err := e.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	key := "test-view-" + hex.EncodeToString([]byte(t.Name()))[:16]
	mounts, err := e.Snap.View(ctx, key, img.ChainID().String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Snap.Remove(ctx, key)
	var out map[string]string
	if err := layer.WithMounted(ctx, mounts, func(root string) error { out = tree(t, root); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openEngine(t)
	rootfs := busyboxImage(t, src, "busybox:latest", map[string]string{"etc/motd": "hello\n"})
	srcImg, err := src.ResolveImage(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	archiveBytes := save(t, src, "busybox")
	if again := save(t, src, "busybox"); !bytes.Equal(archiveBytes, again) {
		t.Errorf("saving the same image twice gave different bytes")
	}
	for _, how := range []string{"file", "stdin", "gzip-file", "zstd-stdin", "oci-dir"} {
		t.Run(how, func(t *testing.T) {
			dst := openEngine(t)
			opts := engine.LoadOptions{}
			switch how {
			case "file":
				opts.Input = writeTemp(t, archiveBytes)
			case "stdin":
				opts.Input, opts.Stdin = "-", io.MultiReader(bytes.NewReader(archiveBytes)) // not a file: spooled
			case "gzip-file":
				var gz bytes.Buffer
				zw := gzip.NewWriter(&gz)
				zw.Write(archiveBytes)
				zw.Close()
				opts.Input = writeTemp(t, gz.Bytes())
			case "zstd-stdin":
				var zb bytes.Buffer
				zw, err := archive.Compress(&zb, archive.Zstd, 0)
				if err != nil {
					t.Fatal(err)
				}
				zw.Write(archiveBytes)
				zw.Close()
				opts.Stdin = &zb
			case "oci-dir":
				opts.Input = untar(t, archiveBytes)
			}
			names, err := dst.Load(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"busybox:latest"}, names); diff != "" {
				t.Errorf("loaded names (-want +got):\n%s", diff)
			}
			got, err := dst.ResolveImage(ctx, "busybox:latest")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != srcImg.ID() || got.Target.Digest != srcImg.Target.Digest {
				t.Errorf("loaded image ID %s manifest %s, want %s %s", got.ID(), got.Target.Digest, srcImg.ID(), srcImg.Target.Digest)
			}
			if diff := cmp.Diff(tree(t, rootfs), imageTree(t, dst, "busybox")); diff != "" {
				t.Errorf("loaded files differ from the imported rootfs (-want +got):\n%s", diff)
			}
			// Loading again reads no layer and changes nothing.
			before := state(t, dst)
			if _, err := dst.Load(ctx, engine.LoadOptions{Input: writeTemp(t, archiveBytes)}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, state(t, dst)); diff != "" {
				t.Errorf("second load changed the store (-want +got):\n%s", diff)
			}
			// And the loaded image saves to the same bytes.
			if again := save(t, dst, "busybox"); !bytes.Equal(archiveBytes, again) {
				t.Errorf("save after load differs from the original archive")
			}
		})
	}
}

func untar(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("tar", "-x", "-C", dir)
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v: %s", err, out)
	}
	return dir
}

// readTar returns every regular file of a tar by name, and the order of
// entries.
func readTar(t *testing.T, b []byte) (map[string][]byte, []string) {
	t.Helper()
	files := map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, hdr.Name)
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = data
		}
	}
	return files, order
}

func TestSaveIsOCILayoutAndDockerArchive(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	busyboxImage(t, e, "busybox:latest", nil)
	busyboxImage(t, e, "app:v1", map[string]string{"app": "v1"})
	if err := e.Tag(ctx, "app:v1", "app:stable"); err != nil {
		t.Fatal(err)
	}
	files, order := readTar(t, save(t, e, "busybox", "app:v1", "app:stable"))

	seen := map[string]bool{}
	for _, n := range order {
		if seen[n] {
			t.Errorf("entry %s written twice", n)
		}
		seen[n] = true
	}
	for name, data := range files {
		if strings.HasPrefix(name, "blobs/sha256/") {
			if got := digest.FromBytes(data).Encoded(); got != strings.TrimPrefix(name, "blobs/sha256/") {
				t.Errorf("%s hashes to %s", name, got)
			}
		}
	}
	// OCI layout.
	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range idx.Manifests {
		names = append(names, d.Annotations["io.containerd.image.name"]+" "+d.Annotations[ocispec.AnnotationRefName])
		mb, ok := files["blobs/sha256/"+d.Digest.Encoded()]
		if !ok || int64(len(mb)) != d.Size {
			t.Fatalf("index.json names %s, missing or of the wrong size", d.Digest)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			t.Fatal(err)
		}
		for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if b, ok := files["blobs/sha256/"+l.Digest.Encoded()]; !ok || int64(len(b)) != l.Size {
				t.Errorf("manifest %s: blob %s missing or of the wrong size", d.Digest, l.Digest)
			}
		}
	}
	sort.Strings(names)
	want := []string{"docker.io/library/app:stable stable", "docker.io/library/app:v1 v1", "docker.io/library/busybox:latest latest"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("index.json names (-want +got):\n%s", diff)
	}
	// Docker archive: every config and layer is there, and each layer's
	// uncompressed tar hashes to the config's diff_id.
	var dms []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &dms); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, dm := range dms {
		tags = append(tags, dm.RepoTags...)
		var cfg ocispec.Image
		if err := json.Unmarshal(files[dm.Config], &cfg); err != nil {
			t.Fatalf("config %s: %v", dm.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(dm.Layers) {
			t.Fatalf("%d layers, %d diff_ids", len(dm.Layers), len(cfg.RootFS.DiffIDs))
		}
		for i, lp := range dm.Layers {
			rc, _, err := archive.Decompress(bytes.NewReader(files[lp]))
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			io.Copy(h, rc)
			if got := digest.NewDigest(digest.SHA256, h); got != cfg.RootFS.DiffIDs[i] {
				t.Errorf("layer %s: diffID %s, config says %s", lp, got, cfg.RootFS.DiffIDs[i])
			}
		}
	}
	sort.Strings(tags)
	if diff := cmp.Diff([]string{"app:stable", "app:v1", "busybox:latest"}, tags); diff != "" {
		t.Errorf("RepoTags (-want +got):\n%s", diff)
	}
	var repos map[string]map[string]string
	if err := json.Unmarshal(files["repositories"], &repos); err != nil || repos["app"]["v1"] == "" {
		t.Errorf("repositories = %s (%v)", files["repositories"], err)
	}
}

func TestSaveByIDHasNoName(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	busyboxImage(t, e, "busybox:latest", nil)
	img, _ := e.ResolveImage(ctx, "busybox")
	b := save(t, e, img.ID().Encoded()[:12])
	dst := openEngine(t)
	names, err := dst.Load(ctx, engine.LoadOptions{Input: writeTemp(t, b)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{img.ID().String()}, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// dockerV1Archive builds an archive in docker's old save format: one
// directory per layer with an uncompressed layer.tar, <hex>.json configs,
// manifest.json last. A layer equal to an earlier one is a symlink to it,
// as docker writes it.
func dockerV1Archive(t *testing.T, layers [][]byte, diffIDs []digest.Digest, tag string) []byte {
	t.Helper()
	if diffIDs == nil {
		for _, l := range layers {
			diffIDs = append(diffIDs, digest.FromBytes(l))
		}
	}
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	cfgDigest := digest.FromBytes(cfg)
	tb := testutil.NewTar()
	var paths []string
	first := map[digest.Digest]string{}
	for i, l := range layers {
		id := digest.FromString(fmt.Sprint("v1 id ", i)).Encoded()
		tb.Dir(id, 0o755)
		tb.File(id+"/VERSION", []byte("1.0"), 0o644)
		tb.File(id+"/json", []byte(`{"id":"`+id+`"}`), 0o644)
		if prev, ok := first[digest.FromBytes(l)]; ok {
			tb.Symlink(id+"/layer.tar", "../"+prev)
		} else {
			tb.File(id+"/layer.tar", l, 0o644)
			first[digest.FromBytes(l)] = id + "/layer.tar"
		}
		paths = append(paths, id+"/layer.tar")
	}
	tb.File(cfgDigest.Encoded()+".json", cfg, 0o644)
	dm, _ := json.Marshal([]map[string]any{{"Config": cfgDigest.Encoded() + ".json", "RepoTags": []string{tag}, "Layers": paths}})
	tb.File("manifest.json", dm, 0o644)
	tb.File("repositories", []byte(`{}`), 0o644)
	return tb.Bytes()
}

func smallLayers() [][]byte {
	a := testutil.NewTar().Dir("etc", 0o755).File("etc/hostname", []byte("one\n"), 0o644).Bytes()
	b := testutil.NewTar().Dir("etc", 0o755).File("etc/hostname", []byte("two\n"), 0o644).File("etc/motd", []byte("hi\n"), 0o600).Bytes()
	return [][]byte{a, b, a}
}

func TestLoadDockerV1Archive(t *testing.T) {
	ctx := context.Background()
	layers := smallLayers()
	b := dockerV1Archive(t, layers, nil, "old/format:v1")
	for _, how := range []string{"file", "stdin"} {
		t.Run(how, func(t *testing.T) {
			e := openEngine(t)
			// What a killed load left behind goes at the next load.
			dead := exec.Command("true")
			if err := dead.Run(); err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(e.Root(), "tmp"), 0o700)
			os.WriteFile(filepath.Join(e.Root(), "tmp", fmt.Sprintf("load-%d-1.tar", dead.Process.Pid)), []byte("x"), 0o600)
			opts := engine.LoadOptions{Input: writeTemp(t, b)}
			if how == "stdin" {
				opts = engine.LoadOptions{Stdin: bytes.NewReader(b)}
			}
			names, err := e.Load(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"old/format:v1"}, names); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			img, err := e.ResolveImage(ctx, "old/format:v1")
			if err != nil {
				t.Fatal(err)
			}
			if len(img.Manifest.Layers) != 3 || img.Manifest.Layers[0].Digest != digest.FromBytes(layers[0]) {
				t.Errorf("manifest layers %+v", img.Manifest.Layers)
			}
			got := imageTree(t, e, "old/format:v1")
			want := map[string]string{"etc": "dir 755", "etc/hostname": fmt.Sprintf("file 644 4 %x", sha256Prefix("one\n")), "etc/motd": fmt.Sprintf("file 600 3 %x", sha256Prefix("hi\n"))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if tmp, _ := os.ReadDir(filepath.Join(e.Root(), "tmp")); len(tmp) != 0 {
				t.Errorf("spooled files left behind: %v", tmp)
			}
		})
	}
}

// docker25Archive builds an archive as docker 25+ writes it: an OCI layout
// of uncompressed layers whose index.json gives only the tag, and a
// manifest.json with RepoTags pointing into blobs/.
func docker25Archive(t *testing.T, layers [][]byte, tag string, withIndex bool) []byte {
	t.Helper()
	var diffIDs []digest.Digest
	var descs []ocispec.Descriptor
	tb := testutil.NewTar()
	for _, l := range layers {
		d := digest.FromBytes(l)
		diffIDs = append(diffIDs, d)
		descs = append(descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: int64(len(l))})
	}
	cfg, _ := json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": cfgDesc, "layers": descs})
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "latest"}}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageIndex, "manifests": []ocispec.Descriptor{mDesc}})
	var paths []string
	seen := map[digest.Digest]bool{}
	for i, l := range layers {
		paths = append(paths, "blobs/sha256/"+diffIDs[i].Encoded())
		if !seen[diffIDs[i]] {
			seen[diffIDs[i]] = true
			tb.File(paths[i], l, 0o644)
		}
	}
	tb.File("blobs/sha256/"+cfgDesc.Digest.Encoded(), cfg, 0o644)
	tb.File("blobs/sha256/"+mDesc.Digest.Encoded(), m, 0o644)
	if withIndex {
		tb.File("index.json", idx, 0o644)
		tb.File("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	}
	dm, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/" + cfgDesc.Digest.Encoded(), "RepoTags": []string{tag}, "Layers": paths}})
	tb.File("manifest.json", dm, 0o644)
	return tb.Bytes()
}

func TestLoadDocker25Archive(t *testing.T) {
	ctx := context.Background()
	layers := smallLayers()
	for _, withIndex := range []bool{true, false} {
		t.Run(fmt.Sprint("index.json=", withIndex), func(t *testing.T) {
			e := openEngine(t)
			names, err := e.Load(ctx, engine.LoadOptions{Input: writeTemp(t, docker25Archive(t, layers, "new/format:v2", withIndex))})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"new/format:v2"}, names); diff != "" {
				t.Errorf("names from manifest.json (-want +got):\n%s", diff)
			}
			got := imageTree(t, e, "new/format:v2")
			if got["etc/motd"] == "" || len(got) != 3 {
				t.Errorf("files: %v", got)
			}
		})
	}
	t.Run("layer not matching its name", func(t *testing.T) {
		e := openEngine(t)
		before := state(t, e)
		b := docker25Archive(t, layers, "new/format:v2", false)
		b = rewrite(t, b, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
			if h.Name == "blobs/sha256/"+digest.FromBytes(layers[1]).Encoded() {
				d = bytes.Replace(d, []byte("two"), []byte("Two"), 1)
			}
			return h, d
		})
		_, err := e.Load(ctx, engine.LoadOptions{Input: writeTemp(t, b)})
		if err == nil || !strings.Contains(err.Error(), "mismatch") {
			t.Fatalf("got %v, want a mismatch", err)
		}
		if diff := cmp.Diff(before, state(t, e)); diff != "" {
			t.Errorf("store changed (-before +after):\n%s", diff)
		}
	})
}

type blobMap map[digest.Digest][]byte

func (m blobMap) Reader(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := m[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("no blob %s", desc.Digest)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// writtenArchive uses imagearchive.Write on hand-made images of
// uncompressed layers.
func writtenArchive(t *testing.T, imgs map[string][][]byte) []byte {
	t.Helper()
	blobs := blobMap{}
	put := func(mt string, b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		blobs[d] = b
		return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	var tags []string
	for tag := range imgs {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	var save []imagearchive.SaveImage
	for _, tag := range tags {
		var descs []ocispec.Descriptor
		var diffIDs []digest.Digest
		for _, l := range imgs[tag] {
			descs = append(descs, put(ocispec.MediaTypeImageLayer, l))
			diffIDs = append(diffIDs, digest.FromBytes(l))
		}
		cfg, _ := json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
		cd := put(ocispec.MediaTypeImageConfig, cfg)
		m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": cd, "layers": descs})
		save = append(save, imagearchive.SaveImage{Names: []string{"docker.io/library/" + tag}, Manifest: put(ocispec.MediaTypeImageManifest, m), Config: cd, Layers: descs})
	}
	var buf bytes.Buffer
	if err := imagearchive.Write(context.Background(), &buf, blobs, save); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLoadStream loads from a pipe an archive in Write's order, where a
// layer comes once but two images need it at different depths (so it is
// kept aside as it streams by), and the same archive gzipped.
func TestLoadStream(t *testing.T) {
	ctx := context.Background()
	ls := smallLayers()
	b := writtenArchive(t, map[string][][]byte{"a:1": {ls[0]}, "b:1": {ls[1], ls[0]}})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(b)
	zw.Close()
	for name, in := range map[string][]byte{"plain": b, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			e := openEngine(t)
			names, err := e.Load(ctx, engine.LoadOptions{Stdin: io.MultiReader(bytes.NewReader(in))})
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(names)
			if diff := cmp.Diff([]string{"a:1", "b:1"}, names); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got := imageTree(t, e, "b:1")["etc/hostname"]; got != fmt.Sprintf("file 644 4 %x", sha256Prefix("one\n")) {
				t.Errorf("b:1 etc/hostname: %s", got)
			}
			if tmp, _ := os.ReadDir(filepath.Join(e.Root(), "tmp")); len(tmp) != 0 {
				t.Errorf("temp files left behind: %v", tmp)
			}
		})
	}
}

// TestLoadStreamBigLayers streams layers too big to be kept in memory: one
// needed by two images (kept aside as it streams by), and, with the big
// entries reversed, one that comes before it is wanted; with the configs
// after the layers, the stream is spooled whole.
func TestLoadStreamBigLayers(t *testing.T) {
	ctx := context.Background()
	big := func(name string, seed byte) []byte {
		data := bytes.Repeat([]byte{seed, seed + 1, seed + 2, 7}, 5<<20/4)
		return testutil.NewTar().File(name, data, 0o644).Bytes()
	}
	x, y := big("x", 1), big("y", 2)
	b := writtenArchive(t, map[string][][]byte{"a:1": {x}, "b:1": {y, x}})
	reorder := func(less func(hi, hj *tar.Header) bool) []byte {
		type ent struct {
			h *tar.Header
			d []byte
		}
		var ents []ent
		rewrite(t, b, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
			ents = append(ents, ent{h, d})
			return nil, nil
		})
		sort.SliceStable(ents, func(i, j int) bool { return less(ents[i].h, ents[j].h) })
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		for _, e := range ents {
			tw.WriteHeader(e.h)
			tw.Write(e.d)
		}
		tw.Close()
		return out.Bytes()
	}
	bigFirst := func(hi, hj *tar.Header) bool { return hi.Size > 4<<20 && hj.Size <= 4<<20 }
	reversedBig := func(hi, hj *tar.Header) bool {
		return hi.Size > 4<<20 && hj.Size > 4<<20 && hi.Name > hj.Name && bytes.Compare([]byte(hi.Name), []byte(hj.Name)) > 0
	}
	for name, in := range map[string][]byte{
		"write order":           b,
		"big entries reversed":  reorder(reversedBig),
		"layers before configs": reorder(bigFirst),
	} {
		t.Run(name, func(t *testing.T) {
			e := openEngine(t)
			names, err := e.Load(ctx, engine.LoadOptions{Stdin: io.MultiReader(bytes.NewReader(in))})
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(names)
			if diff := cmp.Diff([]string{"a:1", "b:1"}, names); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			got := imageTree(t, e, "b:1")
			if len(got) != 2 || got["x"] == "" || got["y"] == "" {
				t.Errorf("b:1 files: %v", got)
			}
			if tmp, _ := os.ReadDir(filepath.Join(e.Root(), "tmp")); len(tmp) != 0 {
				t.Errorf("temp files left behind: %v", tmp)
			}
		})
	}
}

func sha256Prefix(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:8]
}

type storeState struct {
	Blobs, Images, Layers, Snapshots []string
}

func state(t *testing.T, e *engine.Engine) storeState {
	t.Helper()
	ctx := context.Background()
	var s storeState
	if err := e.Content.Walk(ctx, func(i content.Info) error { s.Blobs = append(s.Blobs, i.Digest.String()); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.View(ctx, func(tx *metadata.Tx) error {
		imgs, err := tx.Images()
		for _, i := range imgs {
			s.Images = append(s.Images, i.Name+"="+i.Target.Digest.String())
		}
		ls, _ := tx.Layers()
		for _, l := range ls {
			s.Layers = append(s.Layers, fmt.Sprintf("%s %d blobs", l.DiffID, len(l.Blobs)))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.Snap.Walk(ctx, func(ctx context.Context, i snapshot.Info) error {
		s.Snapshots = append(s.Snapshots, i.Name)
		return nil
	})
	sort.Strings(s.Blobs)
	sort.Strings(s.Images)
	return s
}

// rewrite copies a tar, letting edit change, drop (nil header) or add
// entries.
func rewrite(t *testing.T, b []byte, edit func(hdr *tar.Header, data []byte) (*tar.Header, []byte)) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		h, d := edit(hdr, data)
		if h == nil {
			continue
		}
		h.Size = int64(len(d))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(d)
	}
	tw.Close()
	return out.Bytes()
}

func TestLoadRefusesHostileArchives(t *testing.T) {
	ctx := context.Background()
	src := openEngine(t)
	busyboxImage(t, src, "busybox:latest", nil)
	good := save(t, src, "busybox")
	img, _ := src.ResolveImage(ctx, "busybox")
	layerPath := "blobs/sha256/" + img.Manifest.Layers[0].Digest.Encoded()
	layers := smallLayers()

	cases := []struct {
		name    string
		archive func(t *testing.T) string // a path
		want    string                    // in the error
	}{
		{"dotdot entry", func(t *testing.T) string {
			return writeTemp(t, testutil.NewTar().File("../evil", []byte("x"), 0o644).Bytes())
		}, `"../evil" climbs out`},
		{"dotdot layer path in manifest.json", func(t *testing.T) string {
			return writeTemp(t, rewrite(t, good, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
				if h.Name == "index.json" {
					return nil, nil
				}
				if h.Name == "manifest.json" {
					d = bytes.Replace(d, []byte(`"Layers":["blobs`), []byte(`"Layers":["../../blobs`), 1)
				}
				return h, d
			}))
		}, "climbs out"},
		{"absolute symlinked blobs dir", func(t *testing.T) string {
			return writeTemp(t, testutil.NewTar().Symlink("blobs", "/var/lib").File("index.json", []byte(`{}`), 0o644).Bytes())
		}, "symlink to the absolute path"},
		{"escaping symlinked blobs dir", func(t *testing.T) string {
			return writeTemp(t, testutil.NewTar().Symlink("blobs", "../../var/lib").Bytes())
		}, "outside the archive"},
		{"symlinked blobs dir in a layout directory", func(t *testing.T) string {
			dir := untar(t, good)
			outside := t.TempDir()
			os.Rename(filepath.Join(dir, "blobs"), filepath.Join(outside, "blobs"))
			os.Symlink(filepath.Join(outside, "blobs"), filepath.Join(dir, "blobs"))
			return dir
		}, "escapes"},
		{"wrong layer digest, same tar inside", func(t *testing.T) string {
			return writeTemp(t, rewrite(t, good, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
				if h.Name == layerPath {
					d = append([]byte(nil), d...)
					d[4] ^= 0xff // the gzip header's mtime: gunzip does not care
				}
				return h, d
			}))
		}, "digest mismatch"},
		{"corrupt layer", func(t *testing.T) string {
			return writeTemp(t, rewrite(t, good, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
				if h.Name == layerPath {
					d = append([]byte(nil), d...)
					d[len(d)/2] ^= 0xff
				}
				return h, d
			}))
		}, "digest mismatch"},
		{"wrong diffID of the second layer", func(t *testing.T) string {
			ids := []digest.Digest{digest.FromBytes(layers[0]), digest.FromString("not it"), digest.FromBytes(layers[0])}
			return writeTemp(t, dockerV1Archive(t, layers, ids, "x:y"))
		}, "diffID mismatch"},
		{"missing blob", func(t *testing.T) string {
			return writeTemp(t, rewrite(t, good, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
				if h.Name == layerPath {
					return nil, nil
				}
				return h, d
			}))
		}, "missing from the archive"},
		{"truncated tar", func(t *testing.T) string {
			return writeTemp(t, good[:len(good)-len(good)/3])
		}, "truncated or corrupt"},
		{"manifest.json not JSON", func(t *testing.T) string {
			return writeTemp(t, testutil.NewTar().File("manifest.json", []byte("{nope"), 0o644).Bytes())
		}, "manifest.json is not valid JSON"},
		{"oversized manifest.json", func(t *testing.T) string {
			return writeTemp(t, testutil.NewTar().File("manifest.json", bytes.Repeat([]byte(" "), 5<<20), 0o644).Bytes())
		}, "manifest.json: 5242880 bytes is over the 4194304 byte limit"},
		{"config not matching its name", func(t *testing.T) string {
			b := dockerV1Archive(t, layers, nil, "x:y")
			return writeTemp(t, rewrite(t, b, func(h *tar.Header, d []byte) (*tar.Header, []byte) {
				if strings.HasSuffix(h.Name, ".json") && h.Name != "manifest.json" {
					d = bytes.Replace(d, []byte(`"os":"linux"`), []byte(`"os":"linuX"`), 1)
				}
				return h, d
			}))
		}, "digest mismatch"},
		{"layer writing outside its root", func(t *testing.T) string {
			evil := testutil.NewTar().File("ok", []byte("x"), 0o644).File("../../evil", []byte("x"), 0o644).Bytes()
			return writeTemp(t, dockerV1Archive(t, [][]byte{layers[0], evil}, nil, "x:y"))
		}, "evil"},
		{"not an archive", func(t *testing.T) string {
			return writeTemp(t, []byte("hello, world"))
		}, "not a tar archive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := openEngine(t)
			// Something already there, but not the archive's layer: two
			// imports within one second give identical layers, and a load
			// rightly skips a layer the store has, unread.
			busyboxImage(t, e, "busybox:latest", map[string]string{"etc/already-here": "yes"})
			before := state(t, e)
			input := tc.archive(t)
			_, err := e.Load(ctx, engine.LoadOptions{Input: input})
			if err == nil {
				t.Fatal("load succeeded")
			}
			msg := strings.ReplaceAll(err.Error(), input, "INPUT")
			t.Log(msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if diff := cmp.Diff(before, state(t, e)); diff != "" {
				t.Errorf("store changed (-before +after):\n%s", diff)
			}
			if fi, err := os.Stat(input); err != nil || fi.IsDir() {
				return
			}
			// The same from a pipe: refused, though maybe in other words.
			f, err := os.Open(input)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := e.Load(ctx, engine.LoadOptions{Stdin: io.MultiReader(f)}); err == nil {
				t.Fatal("load from a pipe succeeded")
			} else {
				t.Log("pipe:", err)
			}
			if diff := cmp.Diff(before, state(t, e)); diff != "" {
				t.Errorf("store changed by the load from a pipe (-before +after):\n%s", diff)
			}
			if tmp, _ := os.ReadDir(filepath.Join(e.Root(), "tmp")); len(tmp) != 0 {
				t.Errorf("temp files left behind: %v", tmp)
			}
		})
	}
}

// TestSavedArchiveReadByPeers has skopeo (and umoci) read what Save writes.
func TestSavedArchiveReadByPeers(t *testing.T) {
	e := openEngine(t)
	busyboxImage(t, e, "busybox:latest", nil)
	p := writeTemp(t, save(t, e, "busybox"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Run("skopeo", func(t *testing.T) {
		if _, err := exec.LookPath("skopeo"); err != nil {
			t.Skip("skipping: skopeo is not installed (apt-get install -y skopeo)")
		}
		for _, ref := range []string{"docker-archive:" + p, "oci-archive:" + p} {
			out, err := exec.CommandContext(ctx, "skopeo", "inspect", ref).CombinedOutput()
			if err != nil {
				t.Errorf("skopeo inspect %s: %v\n%s", ref, err, out)
				continue
			}
			if !strings.Contains(string(out), `"Layers"`) {
				t.Errorf("skopeo inspect %s: %s", ref, out)
			}
		}
	})
	t.Run("umoci", func(t *testing.T) {
		if _, err := exec.LookPath("umoci"); err != nil {
			t.Skip("skipping: umoci is not installed (apt-get install -y umoci)")
		}
		dir := untar(t, save(t, e, "busybox"))
		out, err := exec.CommandContext(ctx, "umoci", "stat", "--image", dir+":latest").CombinedOutput()
		if err != nil {
			t.Errorf("umoci stat: %v\n%s", err, out)
		}
	})
}

// TestConcurrentLoads loads one archive from two engines on one root at
// once, as two strata processes would: both succeed, with one copy kept.
func TestConcurrentLoads(t *testing.T) {
	ctx := context.Background()
	src := openEngine(t)
	busyboxImage(t, src, "busybox:latest", nil)
	p := writeTemp(t, save(t, src, "busybox"))
	root := t.TempDir()
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			e, err := engine.Open(ctx, engine.Options{Root: root})
			if err != nil {
				errs <- err
				return
			}
			defer e.Close()
			_, err = e.Load(ctx, engine.LoadOptions{Input: p})
			errs <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Errorf("load %d: %v", i, err)
		}
	}
	e, err := engine.Open(ctx, engine.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	st := state(t, e)
	if len(st.Images) != 1 || len(st.Layers) != 1 || len(st.Snapshots) != 1 {
		t.Errorf("store after two loads: %+v", st)
	}
}

// BenchmarkLoad loads the archive named by $STRATA_BENCH_ARCHIVE into a
// fresh root per iteration (bench/saveload.sh times the whole command).
func BenchmarkLoad(b *testing.B) {
	p := os.Getenv("STRATA_BENCH_ARCHIVE")
	if p == "" {
		b.Skip("set STRATA_BENCH_ARCHIVE to an archive to load")
	}
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, err := engine.Open(context.Background(), engine.Options{Root: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := e.Load(context.Background(), engine.LoadOptions{Input: p}); err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}
