package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/runtime"
)

// BuildOptions describe a `strata build`.
type BuildOptions struct {
	// Context is a directory, or "-" for standard input holding either a
	// tar of the context or a Dockerfile alone.
	Context string
	Stdin   io.Reader
	// Dockerfile is the Dockerfile's path ("" is CONTEXT/Dockerfile).
	Dockerfile string
	Tags       []string
	BuildArgs  map[string]string
	Target     string
	NoCache    bool
	// Pull pulls every image the Dockerfile names even when the store
	// has it (docker build --pull); a missing one is pulled regardless.
	Pull    bool
	Labels  map[string]string
	Network string
	Squash  bool
	// SourceDateEpoch makes the build reproducible (see build.Options).
	SourceDateEpoch *time.Time
	Progress        io.Writer // step lines; nil for none
	Verbose         bool      // cache miss reasons
	// Display gets the steps as events, for the terminal display
	// (progress.StepDisplay); nil for none.
	Display progress.StepReporter
	// Compression, if set (gzip, zstd, none), stores each new layer's blob
	// so compressed as the build runs. By default ("") no blob is stored:
	// a layer stays in its snapshot with a tar-split index, and is
	// compressed when pushed or rebuilt when saved (see build.Options).
	Compression string
	// Secrets are --secret values for RUN --mount=type=secret.
	Secrets []string
	// SSH are --ssh values (ID, ID=SOCKET, ID=KEYFILE[,KEYFILE...]) for
	// RUN --mount=type=ssh.
	SSH []string
}

// BuildResult is the built image.
type BuildResult struct {
	ID       digest.Digest      // the config digest
	Manifest ocispec.Descriptor // what the tags point at
	Tags     []string
}

// maxStdinDockerfile caps a Dockerfile or context tar read from stdin
// before it is known which it is.
const maxStdinDockerfile = 1 << 20

// Build builds an image from a Dockerfile and names it with each tag. A
// failed build tags nothing; its finished steps stay in the cache.
func (e *Engine) Build(ctx context.Context, opts BuildOptions) (BuildResult, error) {
	var res BuildResult
	var names []string
	for _, t := range opts.Tags {
		n, err := images.ParseTagged(t)
		if err != nil {
			return res, err
		}
		names = append(names, n.String())
	}
	comp, err := layer.ParseCompression(opts.Compression)
	if err != nil {
		return res, err
	}
	store := opts.Compression != ""
	bo := build.Options{
		BuildArgs: opts.BuildArgs, Target: opts.Target, NoCache: opts.NoCache, Pull: opts.Pull, Labels: opts.Labels,
		Network: opts.Network, Squash: opts.Squash, SourceDateEpoch: opts.SourceDateEpoch,
		Progress: opts.Progress, Verbose: opts.Verbose, Display: opts.Display, StoreBlobs: store, Compression: comp,
		Secrets: opts.Secrets, SSH: opts.SSH, CacheMountDir: e.cacheMountDir(),
	}
	cleanup, err := e.buildInput(ctx, opts, &bo)
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		return res, err
	}

	unlock, err := e.lock(ctx, false)
	if err != nil {
		return res, err
	}
	defer unlock()
	be := build.Backend{Content: e.Content, DB: e.DB, Images: e.Images, Snap: e.Snap, Driver: e.driver,
		SharedInodes: e.sharedInodes(ctx),
		Runc:         &runtime.Runc{Root: filepath.Join(e.root, "runc")},
		Pull: func(ctx context.Context, ref string) error {
			_, err := e.Pull(ctx, ref, PullOptions{Quiet: true})
			return err
		}}
	if cs, err := e.Containers(); err == nil && cs.Networks() != nil {
		be.Networks = cs.Networks()
	}
	out, err := build.Build(ctx, be, bo)
	if err != nil {
		return res, err
	}
	cfgDesc, err := e.Images.PutJSON(ctx, ocispec.MediaTypeImageConfig, out.Image)
	if err != nil {
		return res, err
	}
	layers := out.Layers
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers}
	target, err := e.Images.PutJSON(ctx, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return res, err
	}
	if len(names) == 0 {
		if err := e.Images.Name(ctx, "", target); err != nil {
			return res, err
		}
	}
	for _, n := range names {
		if err := e.Images.Name(ctx, n, target); err != nil {
			return res, err
		}
		e.imageEvent("tag", cfgDesc.Digest.String(), images.Familiar(n))
	}
	return BuildResult{ID: cfgDesc.Digest, Manifest: target, Tags: names}, nil
}

// buildInput fills in the context directory, the Dockerfile and the
// .dockerignore; cleanup removes a context unpacked from stdin.
func (e *Engine) buildInput(ctx context.Context, opts BuildOptions, bo *build.Options) (func(), error) {
	var cleanup func()
	ctxDir := opts.Context
	if ctxDir == "" {
		return nil, fmt.Errorf("build: no context given: %w", errdefs.ErrInvalidArgument)
	}
	if ctxDir == "-" {
		if opts.Stdin == nil {
			return nil, fmt.Errorf("build from -: no standard input: %w", errdefs.ErrInvalidArgument)
		}
		br := bufioPeek(opts.Stdin)
		if isTarStream(br.head) {
			dir, err := os.MkdirTemp("", "strata-context-")
			if err != nil {
				return nil, err
			}
			cleanup = func() { os.RemoveAll(dir) }
			rc, _, err := archive.Decompress(br)
			if err != nil {
				return cleanup, fmt.Errorf("build context from standard input: %w", err)
			}
			defer rc.Close()
			if _, err := archive.Apply(ctx, dir, rc, archive.ApplyOptions{}); err != nil {
				return cleanup, fmt.Errorf("build context from standard input: %w", err)
			}
			ctxDir = dir
		} else {
			b, err := io.ReadAll(io.LimitReader(br, maxStdinDockerfile+1))
			if err != nil {
				return nil, err
			}
			if len(b) > maxStdinDockerfile {
				return nil, fmt.Errorf("Dockerfile on standard input is over 1 MiB: %w", errdefs.ErrInvalidArgument)
			}
			bo.Dockerfile, bo.DockerfileName = b, "Dockerfile"
			return nil, nil
		}
	} else if fi, err := os.Stat(ctxDir); err != nil {
		return nil, fmt.Errorf("build context %s: %w", ctxDir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory: %w", ctxDir, errdefs.ErrInvalidArgument)
	}
	bo.ContextDir = ctxDir
	df := opts.Dockerfile
	if df == "" {
		df = filepath.Join(ctxDir, "Dockerfile")
	} else if !filepath.IsAbs(df) && opts.Context == "-" {
		df = filepath.Join(ctxDir, df)
	}
	b, err := os.ReadFile(df)
	if err != nil {
		return cleanup, fmt.Errorf("read Dockerfile: %w", err)
	}
	bo.Dockerfile = b
	bo.DockerfileName = filepath.Base(df)
	if ig, err := os.ReadFile(filepath.Join(ctxDir, ".dockerignore")); err == nil {
		bo.Ignore = ig
	} else if !errors.Is(err, os.ErrNotExist) {
		return cleanup, err
	}
	return cleanup, nil
}

type peeked struct {
	head []byte
	r    io.Reader
}

func (p *peeked) Read(b []byte) (int, error) { return p.r.Read(b) }

// bufioPeek reads the first bytes of r so the caller can tell a tar from a
// Dockerfile, and still reads everything after.
func bufioPeek(r io.Reader) *peeked {
	head := make([]byte, 1024)
	n, _ := io.ReadFull(r, head)
	head = head[:n]
	return &peeked{head: head, r: io.MultiReader(bytes.NewReader(head), r)}
}

func isTarStream(head []byte) bool {
	rc, c, err := archive.Decompress(bytes.NewReader(head))
	if err != nil {
		return false
	}
	defer rc.Close()
	if c != archive.Uncompressed {
		return true // a compressed stream is a context, never a Dockerfile
	}
	// A ustar, pax or GNU header says "ustar" at offset 257.
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}
