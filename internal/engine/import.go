package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// ImportOptions describe a `strata import`.
type ImportOptions struct {
	Source      string    // a tar file (any compression), a directory, or "-"
	Stdin       io.Reader // read when Source is "-"
	Ref         string    // REPO[:TAG]; empty leaves the image untagged
	Changes     []string  // Dockerfile instructions applied to the config
	Message     string    // the history comment
	Compression string    // gzip (default), zstd, none
}

// Import makes a one-layer image from a root filesystem and returns its ID.
func (e *Engine) Import(ctx context.Context, opts ImportOptions) (digest.Digest, error) {
	var named string
	if opts.Ref != "" {
		tagged, err := images.ParseTagged(opts.Ref)
		if err != nil {
			return "", err
		}
		named = tagged.String()
	}
	comp, err := layer.ParseCompression(opts.Compression)
	if err != nil {
		return "", err
	}
	var cfg ocispec.ImageConfig
	if err := build.ApplyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}
	src, err := openImportSource(ctx, opts)
	if err != nil {
		return "", err
	}
	defer src.Close()

	unlock, err := e.lock(ctx, false)
	if err != nil {
		return "", err
	}
	defer unlock()

	lay, err := e.unpackAndStore(ctx, "", src, comp)
	if err != nil {
		return "", fmt.Errorf("import %s: %w", sourceName(opts.Source), storeErr(e.root, err))
	}
	now := time.Now().UTC()
	comment := opts.Message
	if comment == "" {
		comment = "Imported from " + sourceName(opts.Source)
	}
	img := ocispec.Image{
		Created:  &now,
		Platform: manifest.Platform(),
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{lay.DiffID}},
		History:  []ocispec.History{{Created: &now, Comment: comment}},
	}
	target, err := e.WriteImage(ctx, img, []ocispec.Descriptor{lay.Desc})
	if err != nil {
		return "", err
	}
	if err := e.nameImage(ctx, named, target); err != nil {
		return "", err
	}
	id := digest.FromBytes(mustJSON(img))
	e.imageEvent("import", id.String(), images.Familiar(named))
	return id, nil
}

func sourceName(s string) string {
	if s == "-" || s == "" {
		return "-"
	}
	return s
}

func openImportSource(ctx context.Context, opts ImportOptions) (io.ReadCloser, error) {
	if opts.Source == "-" {
		if opts.Stdin == nil {
			return nil, fmt.Errorf("import from -: no standard input: %w", errdefs.ErrInvalidArgument)
		}
		rc, _, err := archive.Decompress(opts.Stdin)
		if err != nil {
			return nil, fmt.Errorf("import from standard input: %w", err)
		}
		return rc, nil
	}
	if strings.Contains(opts.Source, "://") {
		return nil, fmt.Errorf("import %s: importing from a URL is not supported; download the file and import it: %w", opts.Source, errdefs.ErrInvalidArgument)
	}
	fi, err := os.Stat(opts.Source)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", opts.Source, err)
	}
	if fi.IsDir() {
		pr, pw := io.Pipe()
		go func() {
			// Ends when the tree is written (EOF for the reader), on an
			// error (passed to the reader), or when the reader closes.
			pw.CloseWithError(archive.WriteDir(ctx, pw, opts.Source, archive.WriteOptions{}))
		}()
		return pr, nil
	}
	f, err := os.Open(opts.Source)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", opts.Source, err)
	}
	rc, _, err := archive.Decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("import %s: %w", opts.Source, err)
	}
	return &closeBoth{ReadCloser: rc, f: f}, nil
}

type closeBoth struct {
	io.ReadCloser
	f *os.File
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.f.Close()
	return err
}

// unpackAndStore brings a new layer, the uncompressed tar tarStream, into
// the store on parent through the layer pipeline: unpacked into a snapshot
// while it is compressed into the content store and its tar-split index
// kept, in one pass.
func (e *Engine) unpackAndStore(ctx context.Context, parent digest.Digest, tarStream io.Reader, comp archive.Compression) (layer.Result, error) {
	src := layer.Source{
		Open: func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
			return io.NopCloser(tarStream), 0, 0, nil
		},
	}
	res, err := e.layers().Apply(ctx, []layer.Source{src}, layer.Options{Parent: parent, Compress: true, Compression: comp})
	if err != nil {
		return layer.Result{}, err
	}
	return res[0], nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// putJSON stores v as a blob and returns its descriptor.
func (e *Engine) putJSON(ctx context.Context, mediaType string, v any) (ocispec.Descriptor, error) {
	b := mustJSON(v)
	dgst, n, err := e.Content.WriteBlob(ctx, strings.NewReader(string(b)), int64(len(b)), digest.FromBytes(b))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: n}, nil
}

// WriteImage stores a config and an OCI manifest over layers, returning the
// manifest's descriptor. The layers must already be in the store.
func (e *Engine) WriteImage(ctx context.Context, img ocispec.Image, layers []ocispec.Descriptor) (ocispec.Descriptor, error) {
	cfgDesc, err := e.putJSON(ctx, ocispec.MediaTypeImageConfig, img)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    layers,
	}
	return e.putJSON(ctx, ocispec.MediaTypeImageManifest, m)
}

// recordRepoDigest notes that the registry repository of name holds the
// image name points at, target, under dgst (it was pulled from there or
// pushed there): docker's RepoDigests. A name moved meanwhile is left.
func (e *Engine) recordRepoDigest(ctx context.Context, name string, target, dgst digest.Digest) error {
	return e.DB.Update(ctx, func(tx *metadata.Tx) error {
		rec, err := tx.Image(name)
		if err != nil || rec.Target.Digest != target || rec.RepoDigest == dgst {
			return nil
		}
		rec.RepoDigest = dgst
		return tx.PutImage(rec)
	})
}
