package imagearchive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

// Annotations of index.json naming an image: containerd and docker 25+ put
// the full name in the first, the OCI spec the tag in the second.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = ocispec.AnnotationRefName
)

// Provider opens blobs for reading, verifying them as they are read (the
// last Read or Close fails on a size or digest mismatch). content.Store is
// one.
type Provider interface {
	Reader(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// SaveImage is one image to write.
type SaveImage struct {
	// Names are normalized tagged names ("docker.io/library/busybox:latest");
	// none for an image saved by ID.
	Names    []string
	Manifest ocispec.Descriptor // an image manifest (not an index)
	Config   ocispec.Descriptor
	Layers   []ocispec.Descriptor
}

// dockerManifest is one entry of a docker save archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// epoch is the mtime of every entry, so that saving the same images twice
// gives the same bytes.
var epoch = time.Unix(0, 0).UTC()

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// Write writes imgs as one tar stream that is both an OCI image layout
// (oci-layout, index.json, blobs/sha256/…) and a docker save archive
// (manifest.json and repositories, pointing into the same blobs/ files, as
// docker 25+ writes them). Each blob is written once however many images
// share it, copied from p as it is verified, never held in memory. The
// JSON files come first and the layers last, bottom layer first, so a
// reader of a stream knows what it is reading before the big blobs come.
func Write(ctx context.Context, w io.Writer, p Provider, imgs []SaveImage) error {
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	var dms []dockerManifest
	repos := map[string]map[string]string{}
	var small, layers []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	add := func(list *[]ocispec.Descriptor, d ocispec.Descriptor) {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			*list = append(*list, d)
		}
	}
	for _, img := range imgs {
		if err := img.Manifest.Digest.Validate(); err != nil {
			return fmt.Errorf("manifest digest %q: %v: %w", img.Manifest.Digest, err, errdefs.ErrInvalidArgument)
		}
		add(&small, img.Manifest)
		add(&small, img.Config)
		dm := dockerManifest{Config: blobPath(img.Config.Digest), RepoTags: []string{}, Layers: []string{}}
		for _, l := range img.Layers {
			add(&layers, l)
			dm.Layers = append(dm.Layers, blobPath(l.Digest))
		}
		top := img.Config.Digest.Encoded()
		if n := len(img.Layers); n > 0 {
			top = img.Layers[n-1].Digest.Encoded()
		}
		desc := ocispec.Descriptor{MediaType: img.Manifest.MediaType, Digest: img.Manifest.Digest, Size: img.Manifest.Size}
		if len(img.Names) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		for _, name := range img.Names {
			named, err := reference.ParseNormalizedNamed(name)
			if err != nil {
				return fmt.Errorf("image name %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
			}
			tagged, ok := named.(reference.NamedTagged)
			if !ok {
				return fmt.Errorf("image name %q has no tag: %w", name, errdefs.ErrInvalidArgument)
			}
			d := desc
			d.Annotations = map[string]string{AnnotationImageName: tagged.String(), AnnotationRefName: tagged.Tag()}
			idx.Manifests = append(idx.Manifests, d)
			dm.RepoTags = append(dm.RepoTags, reference.FamiliarString(tagged))
			repo := reference.FamiliarName(tagged)
			if repos[repo] == nil {
				repos[repo] = map[string]string{}
			}
			repos[repo][tagged.Tag()] = top
		}
		dms = append(dms, dm)
	}

	tw := tar.NewWriter(w)
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	for _, f := range []struct {
		name string
		v    any
	}{{"oci-layout", nil}, {"index.json", idx}, {"manifest.json", dms}, {"repositories", repos}} {
		b := layout
		if f.v != nil {
			var err error
			if b, err = json.Marshal(f.v); err != nil {
				return err
			}
		}
		if err := writeFile(tw, f.name, b); err != nil {
			return err
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	buf := make([]byte, 1<<20)
	for _, d := range append(small, layers...) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeBlob(ctx, tw, p, d, buf); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeFile(tw *tar.Writer, name string, b []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func writeBlob(ctx context.Context, tw *tar.Writer, p Provider, d ocispec.Descriptor, buf []byte) error {
	if !strings.HasPrefix(string(d.Digest), "sha256:") {
		return fmt.Errorf("blob %s: only sha256 blobs can be saved: %w", d.Digest, errdefs.ErrInvalidArgument)
	}
	rc, err := p.Reader(ctx, d)
	if err != nil {
		return fmt.Errorf("save blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: blobPath(d.Digest), Mode: 0o444, Size: d.Size, ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("save blob %s: %w", d.Digest, err)
	}
	if _, err := io.CopyBuffer(tw, rc, buf); err != nil {
		return fmt.Errorf("save blob %s: %w", d.Digest, err)
	}
	if err := rc.Close(); err != nil {
		return fmt.Errorf("save blob %s: %w", d.Digest, err)
	}
	return nil
}
