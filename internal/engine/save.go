package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/imagearchive"
	"github.com/strata-project/strata/internal/images"
)

// Save writes the images refs name (names or IDs) to w as one tar that is
// both a docker save archive and an OCI image layout (see imagearchive).
// An image given by name is saved with that name; one given by ID with no
// name, as docker does. Blobs are copied from the store as they are
// verified; a layer a build kept only as a snapshot is rebuilt from it.
// The gc lock is held throughout so nothing is swept meanwhile.
func (e *Engine) Save(ctx context.Context, w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: give at least one image: %w", errdefs.ErrInvalidArgument)
	}
	unlock, err := e.lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	var out []imagearchive.SaveImage
	byManifest := map[digest.Digest]int{}
	for _, ref := range refs {
		img, err := e.Images.Resolve(ctx, ref)
		if err != nil {
			return fmt.Errorf("save %s: %w", ref, err)
		}
		var names []string
		if named, err := images.ParseName(ref); err == nil {
			for _, n := range img.Names {
				if n == named.String() {
					names = append(names, n)
				}
			}
		}
		for _, l := range img.Manifest.Layers {
			if err := e.layerAvailable(ctx, l); err != nil {
				return fmt.Errorf("save %s: layer %s: %w", ref, l.Digest, err)
			}
		}
		if i, ok := byManifest[img.ManifestDesc.Digest]; ok {
			for _, n := range names {
				if !contains(out[i].Names, n) {
					out[i].Names = append(out[i].Names, n)
				}
			}
			continue
		}
		byManifest[img.ManifestDesc.Digest] = len(out)
		out = append(out, imagearchive.SaveImage{Names: names, Manifest: img.ManifestDesc, Config: img.ConfigDesc, Layers: img.Manifest.Layers})
	}
	if err := imagearchive.Write(ctx, w, layerProvider{e}, out); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
