package metadata

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestImagesAndLayers(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1}
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.PutImage(Image{Name: "docker.io/library/a:latest", Target: target})
	}); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("layer")
	b1 := ocispec.Descriptor{Digest: digest.FromString("b1")}
	b2 := ocispec.Descriptor{Digest: digest.FromString("b2")}
	db.Update(ctx, func(tx *Tx) error {
		return tx.PutLayer(Layer{DiffID: d, ChainID: d, Size: 5, Blobs: []ocispec.Descriptor{b1}})
	})
	db.Update(ctx, func(tx *Tx) error { return tx.PutLayer(Layer{DiffID: d, Blobs: []ocispec.Descriptor{b2}}) })
	err = db.View(ctx, func(tx *Tx) error {
		img, err := tx.Image("docker.io/library/a:latest")
		if err != nil || img.Target.Digest != target.Digest || img.CreatedAt.IsZero() {
			t.Errorf("image = %+v, %v", img, err)
		}
		if _, err := tx.Image("nope"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("missing image: %v", err)
		}
		l, err := tx.Layer(d)
		if err != nil || len(l.Blobs) != 2 || l.Size != 5 {
			t.Errorf("merged layer = %+v, %v", l, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A process holding the database makes others fail with "store busy" after
// the timeout, never hang.
func TestBusyTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.timeout = 200 * time.Millisecond
	holder, err := bolt.Open(path, 0o644, nil) // holds the exclusive flock
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	start := time.Now()
	err = db.Update(context.Background(), func(*Tx) error { return nil })
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Update while held: %v, want store busy", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

// A process killed while creating the database leaves an empty file; the
// next open initializes it instead of failing.
func TestOpenEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open of an empty file: %v", err)
	}
	if err := db.View(context.Background(), func(tx *Tx) error { _, err := tx.Images(); return err }); err != nil {
		t.Fatal(err)
	}
}
