package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/registry"
)

// A build stores no blob for the layers it makes, only their snapshots and
// tar-split indexes; everything that reads a layer still gets the exact
// tar: save (and a load elsewhere), push (compressed on the way) and a pull
// elsewhere, fsck, gc, and a squashed build.
func TestBuiltLayersWithoutBlobs(t *testing.T) {
	ctx := context.Background()
	src := openEngine(t)
	busyboxImage(t, src, "busybox:latest", nil)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"Dockerfile":  "FROM busybox\nCOPY ctx/ /app/\nRUN ln /app/a /app/a-link && rm /bin/cat && echo run > /app/run\n",
		"ctx/a":       strings.Repeat("a", 70000),
		"ctx/sub/b":   "b",
		"ctx/sub/nil": "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var progress bytes.Buffer
	res, err := src.Build(ctx, engine.BuildOptions{Context: dir, Tags: []string{"built:1"}, Progress: &progress})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	img, err := src.ResolveImage(ctx, "built:1")
	if err != nil {
		t.Fatal(err)
	}
	base, err := src.ResolveImage(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	nb := len(base.Manifest.Layers)
	if len(img.Manifest.Layers) != nb+2 {
		t.Fatalf("%d layers, want %d", len(img.Manifest.Layers), nb+2)
	}
	for i, l := range img.Manifest.Layers[nb:] {
		if l.MediaType != ocispec.MediaTypeImageLayer || l.Digest != img.DiffIDs()[nb+i] {
			t.Errorf("built layer %d is %s %s, want the uncompressed tar named by its diffID %s", i, l.MediaType, l.Digest, img.DiffIDs()[nb+i])
		}
		if _, err := src.Content.Info(ctx, l.Digest); !errdefs.IsNotFound(err) {
			t.Errorf("built layer %d: blob is in the store (%v)", i, err)
		}
	}
	want := imageTree(t, src, "built:1")
	fsckClean := func(e *engine.Engine, when string) {
		t.Helper()
		rep, err := e.Fsck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() {
			t.Errorf("fsck %s: %v", when, rep.Problems)
		}
	}
	fsckClean(src, "after the build")

	// Save rebuilds the layers from the snapshots; a load elsewhere gets
	// the same image, and saving twice gives the same bytes.
	archiveBytes := save(t, src, "built:1")
	if again := save(t, src, "built:1"); !bytes.Equal(archiveBytes, again) {
		t.Errorf("saving the same built image twice gave different bytes")
	}
	loaded := openEngine(t)
	if _, err := loaded.Load(ctx, engine.LoadOptions{Input: writeTemp(t, archiveBytes)}); err != nil {
		t.Fatal(err)
	}
	if got, err := loaded.ResolveImage(ctx, "built:1"); err != nil || got.ID() != res.ID {
		t.Fatalf("loaded image: %v %v, want ID %s", got.ID(), err, res.ID)
	}
	if d := cmp.Diff(want, imageTree(t, loaded, "built:1")); d != "" {
		t.Errorf("loaded files (-built +loaded):\n%s", d)
	}
	fsckClean(loaded, "after the load")

	// Loaded back into the store that built it, the archive adds no blob:
	// the built layers are there already, as snapshots and indexes.
	before := blobDigests(t, src)
	if _, err := src.Load(ctx, engine.LoadOptions{Input: writeTemp(t, archiveBytes)}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, blobDigests(t, src)); d != "" {
		t.Errorf("loading its own save into the store that built it changed its blobs (-before +after):\n%s", d)
	}
	if got, err := src.ResolveImage(ctx, "built:1"); err != nil || got.ID() != res.ID {
		t.Fatalf("reloaded image: %v %v, want ID %s", got.ID(), err, res.ID)
	}
	fsckClean(src, "after loading its own save")

	// Push compresses them; the pushed manifest names gzip blobs, and a
	// pull elsewhere gives the same image.
	host := rtRegistry(t, registry.Options{}, nil)
	ref := host + "/app/built:1"
	if err := src.Tag(ctx, "built:1", ref); err != nil {
		t.Fatal(err)
	}
	sessions := t.TempDir()
	desc, err := src.Push(ctx, ref, engine.PushOptions{Client: rtClient(sessions)})
	if err != nil {
		t.Fatal(err)
	}
	pulled := rtEngine(t)
	if _, err := pulled.Pull(ctx, ref, engine.PullOptions{Client: rtClient(sessions)}); err != nil {
		t.Fatal(err)
	}
	pimg, err := pulled.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if pimg.ID() != res.ID || pimg.Target.Digest != desc.Digest {
		t.Errorf("pulled %s (manifest %s), want %s (manifest %s)", pimg.ID(), pimg.Target.Digest, res.ID, desc.Digest)
	}
	for i, l := range pimg.Manifest.Layers {
		if c, _ := manifest.Compression(l.MediaType); c != "gzip" {
			t.Errorf("pushed layer %d is %s, want gzip", i, l.MediaType)
		}
	}
	if d := cmp.Diff(want, imageTree(t, pulled, ref)); d != "" {
		t.Errorf("pulled files (-built +pulled):\n%s", d)
	}
	fsckClean(src, "after the push")

	// Without names the cache keeps the layers through gc, and the next
	// build hits it; pruning the cache lets gc take snapshots and indexes.
	for _, r := range []string{"built:1", ref} {
		if _, err := src.RemoveImage(ctx, r, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.GC(ctx, engine.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	progress.Reset()
	if _, err := src.Build(ctx, engine.BuildOptions{Context: dir, Tags: []string{"built:2"}, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(progress.String(), "CACHED"); n != 2 {
		t.Errorf("after gc: %d CACHED steps, want 2:\n%s", n, progress.String())
	}
	if d := cmp.Diff(want, imageTree(t, src, "built:2")); d != "" {
		t.Errorf("cached rebuild (-built +cached):\n%s", d)
	}
	save(t, src, "built:2")
	if _, err := src.RemoveImage(ctx, "built:2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PruneBuildCache(ctx, engine.BuilderPruneOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	st := state(t, src)
	for _, l := range st.Layers {
		for _, d := range img.DiffIDs()[nb:] {
			if strings.HasPrefix(l, d.String()) {
				t.Errorf("layer record %s survived the prune", l)
			}
		}
	}
	fsckClean(src, "after the prune")

	// --squash makes one layer, also kept without a blob, that saves.
	if _, err := src.Build(ctx, engine.BuildOptions{Context: dir, Tags: []string{"squashed:1"}, Squash: true}); err != nil {
		t.Fatal(err)
	}
	sq, err := src.ResolveImage(ctx, "squashed:1")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sq.Manifest.Layers); n != nb+1 || !layer.Unstored(sq.Manifest.Layers[nb], sq.DiffIDs()[nb]) {
		t.Fatalf("squashed image layers %v", sq.Manifest.Layers)
	}
	loaded2 := openEngine(t)
	if _, err := loaded2.Load(ctx, engine.LoadOptions{Input: writeTemp(t, save(t, src, "squashed:1"))}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, imageTree(t, loaded2, "squashed:1")); d != "" {
		t.Errorf("squashed files (-built +squashed):\n%s", d)
	}
	fsckClean(src, "after the squash")

	// --compression stores blobs as the build runs.
	if _, err := src.Build(ctx, engine.BuildOptions{Context: dir, Tags: []string{"gz:1"}, NoCache: true, Compression: "gzip"}); err != nil {
		t.Fatal(err)
	}
	gz, err := src.ResolveImage(ctx, "gz:1")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range gz.Manifest.Layers[nb:] {
		if _, err := src.Content.Info(ctx, l.Digest); err != nil || l.MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Errorf("--compression gzip layer %d: %s %v", i, l.MediaType, err)
		}
	}
}

// blobDigests lists the blobs in e's content store.
func blobDigests(t *testing.T, e *engine.Engine) []string {
	t.Helper()
	var out []string
	if err := e.Content.Walk(context.Background(), func(i content.Info) error {
		out = append(out, i.Digest.String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
