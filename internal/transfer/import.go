package transfer

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/manifest"
)

// ImportOptions describe a `strata import`.
type ImportOptions struct {
	Source string    // a tar file (any compression), a directory, or "-"
	Stdin  io.Reader // read when Source is "-"
	Ref    string    // REPO[:TAG]; empty leaves the image untagged
	// Changes, if set, applies the --change instructions (Dockerfile
	// instructions) to the config.
	Changes     func(*ocispec.ImageConfig) error
	Message     string // the history comment
	Compression string // gzip (default), zstd, none
}

// Import makes a one-layer image from a root filesystem and returns its ID.
func (s *Store) Import(ctx context.Context, opts ImportOptions) (digest.Digest, error) {
	named, comp, err := parseTarget(opts.Ref, opts.Compression)
	if err != nil {
		return "", err
	}
	var cfg ocispec.ImageConfig
	if opts.Changes != nil {
		if err := opts.Changes(&cfg); err != nil {
			return "", err
		}
	}
	src, err := openImportSource(ctx, opts)
	if err != nil {
		return "", err
	}
	defer src.Close()

	unlock, err := s.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()

	lay, err := s.Layers.ApplyTar(ctx, "", src, comp)
	if err != nil {
		if s.StoreErr != nil {
			err = s.StoreErr(err)
		}
		return "", fmt.Errorf("import %s: %w", sourceName(opts.Source), err)
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
	target, id, err := s.Images.Write(ctx, img, []ocispec.Descriptor{lay.Desc})
	if err != nil {
		return "", err
	}
	if err := s.Images.Name(ctx, named, target); err != nil {
		return "", err
	}
	s.event("import", id.String(), images.Familiar(named))
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
