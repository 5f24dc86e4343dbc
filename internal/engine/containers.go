package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/transfer"
)

// Containers is the engine's container store (<root>/containers, runc's
// state in <root>/runc), opened on first use and kept: the CLI and any
// other front end of this engine share it.
func (e *Engine) Containers() (*container.Store, error) {
	e.containersOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			e.containersErr = fmt.Errorf("open container store: find own executable: %w", err)
			return
		}
		// The monitor of a detached --rm container removes it with this
		// binary, which must find the same root.
		s, err := container.Open(container.Options{
			Root: e.root, Snapshotter: e.Snap, Driver: e.driver,
			RemoveCommand:   []string{exe, "--root", e.root, "rm", "-f"},
			NoNewPrivileges: e.cfg.NoNewPrivileges,
			SharedInodes:    e.sharedInodes,
			Networks:        true,
			Events:          e.journal,
		})
		if err != nil {
			e.containersErr = storeErr(e.root, err)
			return
		}
		e.containers = s
	})
	return e.containers, e.containersErr
}

// ImageNotFoundError is an image that run or create cannot find locally
// (Strata does not pull implicitly).
type ImageNotFoundError struct {
	Ref string
	Err error
}

func (e *ImageNotFoundError) Error() string {
	return fmt.Sprintf("Unable to find image '%s' locally: get it with \"strata pull %s\" or \"strata import\"", e.Ref, e.Ref)
}

func (e *ImageNotFoundError) Unwrap() error { return e.Err }

// ContainerImage fills opts' image fields (ImageRef, ImageID, ChainID,
// Config) from the local image ref.
func (e *Engine) ContainerImage(ctx context.Context, ref string, opts *container.CreateOptions) error {
	img, err := e.ResolveImage(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return &ImageNotFoundError{Ref: ref, Err: err}
		}
		return err
	}
	if img.ChainID() == "" {
		return fmt.Errorf("image %s has no layers to run: %w", ref, errdefs.ErrInvalidArgument)
	}
	opts.ImageRef, opts.ImageID, opts.ChainID = ref, img.ID().String(), img.ChainID().String()
	opts.Config = img.Config.Config
	// The image's HEALTHCHECK, which ocispec.ImageConfig drops, under
	// run's --health-* flags.
	raw, err := e.Content.ReadAll(ctx, img.ConfigDesc, manifest.MaxSize)
	if err != nil {
		return fmt.Errorf("image %s: read config: %w", ref, err)
	}
	full, err := build.DecodeImage(raw)
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	opts.Healthcheck = runtime.MergeHealthcheck(opts.Healthcheck, full.Config.Healthcheck)
	return nil
}

// CreateContainer resolves the image and creates a container from it.
func (e *Engine) CreateContainer(ctx context.Context, image string, opts container.CreateOptions) (*container.Container, error) {
	if err := e.ContainerImage(ctx, image, &opts); err != nil {
		return nil, err
	}
	return call(e.Containers, func(s *container.Store) (*Container, error) { return s.Create(ctx, opts) })
}

// NetworkMode is a container's network, none or host.
type NetworkMode = runtime.NetworkMode

// ParseNetworkMode reads run and create's --network.
func ParseNetworkMode(s string) (NetworkMode, error) { return runtime.ParseNetworkMode(s) }

// RunOptions are the attach side of run and start -a.
type RunOptions = container.RunOptions

// RunContainer is docker run: it resolves the image and hands the run to
// the container store's one run sequence (container.Store.Run), which says
// what it returns and what it leaves behind on each failure.
func (e *Engine) RunContainer(ctx context.Context, image string, opts container.CreateOptions, ro RunOptions) (*container.Container, int, error) {
	if err := e.ContainerImage(ctx, image, &opts); err != nil {
		return nil, 125, err
	}
	s, err := e.Containers()
	if err != nil {
		return nil, 125, err
	}
	return s.Run(ctx, opts, ro)
}

// StartAttached is start -a: the run sequence from the start of an
// existing container (container.Store.StartAttached).
func (e *Engine) StartAttached(ctx context.Context, ref string, ro RunOptions) (int, error) {
	s, err := e.Containers()
	if err != nil {
		return 125, err
	}
	return s.StartAttached(ctx, ref, ro)
}

// ContainerUsers names the containers made from imageID: rmi refuses, and
// image prune keeps, an image a container uses.
func (e *Engine) ContainerUsers(ctx context.Context, imageID digest.Digest) ([]string, error) {
	users, err := call(e.Containers, func(s *container.Store) (map[string]string, error) { return s.Users(imageID.String()) })
	if err != nil {
		return nil, err
	}
	var names []string
	for _, id := range sortedKeys(users) {
		names = append(names, users[id])
	}
	return names, nil
}

// ContainerRoots are the gc roots of the containers: each one's snapshot,
// its image's layer snapshots, config blob and layer blobs, so a container
// whose image lost its names can still be committed and exported.
func (e *Engine) ContainerRoots(ctx context.Context) (gc.Roots, error) {
	roots := gc.Roots{Blobs: map[digest.Digest]bool{}, Snapshots: map[string]bool{}}
	s, err := e.Containers()
	if err != nil {
		return roots, err
	}
	all, err := s.All()
	if err != nil {
		return roots, err
	}
	for _, c := range all {
		roots.Snapshots[c.SnapshotKey] = true
		blobs, chainIDs := e.Images.Keeps(ctx, c.ImageID)
		for _, b := range blobs {
			roots.Blobs[b] = true
		}
		for _, ch := range chainIDs {
			roots.Snapshots[ch.String()] = true
		}
	}
	return roots, nil
}

// CommitOptions are commit's flags.
type CommitOptions struct {
	Ref     string   // REPO[:TAG]; empty leaves the image untagged
	Message string   // -m, the history comment
	Author  string   // -a
	Changes []string // -c, Dockerfile instructions applied to the config
	Pause   bool     // -p
	// Compression of the new layer: gzip (default), zstd, none.
	Compression string
}

// CommitContainer makes an image of the container: its image's layers
// (shared, not copied) and one new layer from the container's changes,
// with the container's config (its command, env, workdir and user as run)
// and a history row. It returns the new image's ID.
func (e *Engine) CommitContainer(ctx context.Context, ref string, opts CommitOptions) (digest.Digest, error) {
	s, err := e.Containers()
	if err != nil {
		return "", err
	}
	c, err := s.Get(ref)
	if err != nil {
		return "", err
	}
	parent, parentLayers, err := e.Images.ByID(ctx, c.ImageID)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", c.Name, err)
	}
	cfg := container.ImageConfig(c, parent.Config)
	if err := build.ApplyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}
	return e.transfer().Commit(ctx, transfer.CommitOptions{
		Ref: opts.Ref, Name: c.Name, Parent: parent, ParentLayers: parentLayers, ParentChainID: digest.Digest(c.ChainID), Config: cfg,
		Layer:     func(w io.Writer) error { return s.Commit(ctx, c.ID, w, container.CommitOptions{Pause: opts.Pause}) },
		CreatedBy: strings.Join(append([]string{c.Path}, c.Args...), " "), Message: opts.Message, Author: opts.Author,
		Compression: opts.Compression,
	})
}

// ContainerInspect is `strata inspect CONTAINER`, shaped as docker's.
type ContainerInspect = container.InspectResponse

// InspectContainer returns docker's inspect shape of a container.
func (e *Engine) InspectContainer(ctx context.Context, ref string) (ContainerInspect, error) {
	return call(e.Containers, func(s *container.Store) (ContainerInspect, error) { return s.InspectDocker(ctx, ref) })
}

// LogConfig is docker's logging driver and its options (--log-driver,
// --log-opt).
type LogConfig = runtime.LogConfig

// ParseLogConfig reads run's --log-driver and --log-opt values.
func ParseLogConfig(driver string, opts []string) (LogConfig, error) {
	return runtime.ParseLogConfig(driver, opts)
}
