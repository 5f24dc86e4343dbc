package engine

import (
	"context"
	"io"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/build"
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
	cleanup, err := build.ReadInput(ctx, opts.Context, opts.Dockerfile, opts.Stdin, &bo)
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
	target, id, err := e.Images.Write(ctx, out.Image, out.Layers)
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
		e.imageEvent("tag", id.String(), images.Familiar(n))
	}
	return BuildResult{ID: id, Manifest: target, Tags: names}, nil
}
