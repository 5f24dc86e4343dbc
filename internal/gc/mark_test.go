package gc

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

func put(t *testing.T, cs *content.Store, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	w, err := cs.Writer(ctx, content.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatal(err)
	}
	return desc
}

func putJSON(t *testing.T, cs *content.Store, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return put(t, cs, mediaType, b)
}

// TestMarkKeepsWhatImagesAndSourcesHold: Mark keeps an image's manifest,
// config, layer blob, snapshot and layer record, the index of a kept
// record, and what a source hands in; Sweep (dry) and ForgetLayers then
// name only the rest.
func TestMarkKeepsWhatImagesAndSourcesHold(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cs, err := content.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.Open(filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}

	layerBlob := put(t, cs, ocispec.MediaTypeImageLayerGzip, []byte("layer"))
	index := put(t, cs, "application/octet-stream", []byte("index"))
	stray := put(t, cs, "application/octet-stream", []byte("stray"))
	held := put(t, cs, "application/octet-stream", []byte("held by a container"))
	diffID, goneDiffID := digest.FromString("tar"), digest.FromString("gone tar")
	cfg := putJSON(t, cs, ocispec.MediaTypeImageConfig, ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}})
	m := putJSON(t, cs, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layerBlob}})
	chainID := manifest.ChainIDs([]digest.Digest{diffID})[0]
	if err := db.Update(ctx, func(tx *metadata.Tx) error {
		if err := tx.PutImage(metadata.Image{Name: "docker.io/library/app:v1", Target: m}); err != nil {
			return err
		}
		if err := tx.PutLayer(metadata.Layer{DiffID: diffID, ChainID: chainID, Blobs: []ocispec.Descriptor{layerBlob}, Index: &index}); err != nil {
			return err
		}
		return tx.PutLayer(metadata.Layer{DiffID: goneDiffID, ChainID: digest.FromString("gone chain")})
	}); err != nil {
		t.Fatal(err)
	}

	load := func(ctx context.Context, target ocispec.Descriptor) ([]digest.Digest, error) {
		if target.Digest != m.Digest {
			t.Errorf("load %s, want the manifest %s", target.Digest, m.Digest)
		}
		return []digest.Digest{diffID}, nil
	}
	source := func(ctx context.Context) (Roots, error) {
		return Roots{Blobs: map[digest.Digest]bool{held.Digest: true}, Snapshots: map[string]bool{"ctr": true}}, nil
	}
	roots, err := Mark(ctx, cs, db, load, source)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{m, cfg, layerBlob, index, held} {
		if !roots.Blobs[d.Digest] {
			t.Errorf("blob %s (%s) not kept", d.Digest, d.MediaType)
		}
	}
	if !roots.Snapshots[chainID.String()] || !roots.Snapshots["ctr"] {
		t.Errorf("snapshots kept: %v", roots.Snapshots)
	}
	if !roots.Layers[diffID] || roots.Layers[goneDiffID] {
		t.Errorf("layer records kept: %v", roots.Layers)
	}

	rep, err := Sweep(ctx, cs, nil, roots, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Blobs) != 1 || rep.Blobs[0] != stray.Digest {
		t.Errorf("dry sweep: %v, want only the stray blob %s", rep.Blobs, stray.Digest)
	}
	if n, err := ForgetLayers(ctx, db, roots); err != nil || n != 1 {
		t.Errorf("ForgetLayers = %d, %v; want 1", n, err)
	}
}
