package transfer

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/imagearchive"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/progress"
)

// LoadOptions describe a `strata load`.
type LoadOptions struct {
	// Input is a docker save archive or an OCI layout (a tar, plain or
	// compressed, or a directory); "" or "-" reads Stdin.
	Input string
	Stdin io.Reader
	// Progress receives a "Loading layer" event per layer with the bytes
	// read of its file, as docker load shows them, and "Already exists"
	// for a layer the store has.
	Progress progress.Reporter
}

// Load reads the images of a docker save archive (old or new format) or an
// OCI layout into the store and names them. It returns, per image, its
// familiar name ("busybox:latest", one entry per name) or, for an image
// without a name, its ID ("sha256:…").
//
// Every manifest and config is read and verified before anything is
// stored. Each layer file is then read once, through the layer pipeline
// (layer.Pipeline): its raw bytes go into the content store as they are
// (hashed and checked against the descriptor or the digest the file is
// named by) while they are decompressed, checked against the config's
// diffID and unpacked into the layer's snapshot. Layers already in the
// store are not read. Names come last; if anything fails, the blobs,
// snapshots and layer records this load added are removed again and
// nothing is named.
//
// A plain archive file is read in place. Standard input and compressed
// archives are streamed when in imagearchive.Write's order (JSON first);
// otherwise (docker writes manifest.json after the layers) they are first
// decompressed into a temp file in TmpDir.
func (s *Store) Load(ctx context.Context, opts LoadOptions) ([]string, error) {
	what := opts.Input
	if what == "" || what == "-" {
		what = "standard input"
	}
	a, err := imagearchive.Open(ctx, opts.Input, opts.Stdin, s.TmpDir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	defer a.Close()
	imgs, err := a.Images(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	u := &layer.Undo{}
	loaded, err := s.loadImages(ctx, a, imgs, u, opts.Progress)
	if err != nil {
		u.Rollback(context.WithoutCancel(ctx), s.Layers)
		return nil, fmt.Errorf("load %s: %w; nothing was kept", what, err)
	}
	for _, n := range loaded {
		s.event("load", n, n)
	}
	return loaded, nil
}

type loadedImage struct {
	names  []string
	target ocispec.Descriptor
	id     digest.Digest
}

func (s *Store) loadImages(ctx context.Context, a *imagearchive.Archive, imgs []imagearchive.Image, u *layer.Undo, rep progress.Reporter) ([]string, error) {
	var done []loadedImage
	for _, img := range imgs {
		srcs := make([]layer.Source, len(img.Layers))
		for i, l := range img.Layers {
			srcs[i] = layer.Source{
				Desc:   l.Desc,
				DiffID: l.DiffID,
				Open: func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
					rc, size, err := a.OpenLayer(l)
					return rc, 0, size, err
				},
				Name: fmt.Sprintf("%d (%s)", i, l.Path),
				ID:   images.ShortID(l.DiffID),
			}
		}
		res, err := s.Layers.Apply(ctx, srcs, layer.Options{
			Concurrency: loadConcurrency,
			InOrder:     !a.RandomAccess(),
			KeepBlob:    true,
			Origin:      "the archive",
			Progress:    rep,
			Reading:     "Loading layer",
			Undo:        u,
		})
		if err != nil {
			return nil, err
		}
		descs := make([]ocispec.Descriptor, len(res))
		for i, r := range res {
			descs[i] = r.Desc
		}
		if err := s.putSmall(ctx, img.ConfigDesc, img.ConfigBytes, u); err != nil {
			return nil, fmt.Errorf("config %s: %w", img.ConfigDesc.Digest, err)
		}
		target := img.ManifestDesc
		mb := img.ManifestBytes
		if mb == nil {
			mb = images.MustJSON(ocispec.Manifest{
				Versioned: specs.Versioned{SchemaVersion: 2},
				MediaType: ocispec.MediaTypeImageManifest,
				Config:    img.ConfigDesc,
				Layers:    descs,
			})
			target = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
		}
		if err := s.putSmall(ctx, target, mb, u); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", target.Digest, err)
		}
		done = append(done, loadedImage{names: img.Names, target: target, id: img.ConfigDesc.Digest})
	}
	// Names last, all in one transaction.
	var out []string
	err := s.DB.Update(ctx, func(tx *metadata.Tx) error {
		out = out[:0]
		for _, d := range done {
			if len(d.names) == 0 {
				if images.TargetNamed(tx, d.target.Digest) {
					out = append(out, d.id.String())
					continue
				}
				if err := images.PutName(tx, images.UntaggedPrefix+d.target.Digest.String(), d.target); err != nil {
					return err
				}
				out = append(out, d.id.String())
				continue
			}
			for _, n := range d.names {
				if err := images.PutName(tx, n, d.target); err != nil {
					return err
				}
				out = append(out, images.Familiar(n))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadConcurrency bounds the layers of one image read at once; each uses
// three goroutines (read, decompress, unpack).
const loadConcurrency = 2
