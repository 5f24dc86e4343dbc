package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apimount "github.com/moby/moby/api/types/mount"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/runtime"
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
			Root: e.root, Snapshotter: e.Snap,
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
	s, err := e.Containers()
	if err != nil {
		return nil, err
	}
	return s.Create(ctx, opts)
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
	s, err := e.Containers()
	if err != nil {
		return nil, err
	}
	users, err := s.Users(imageID.String())
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
		cfgDigest, err := digest.Parse(c.ImageID)
		if err != nil {
			continue
		}
		roots.Blobs[cfgDigest] = true
		cfg, err := e.readConfig(ctx, cfgDigest)
		if err != nil {
			continue
		}
		for _, ch := range manifest.ChainIDs(cfg.RootFS.DiffIDs) {
			roots.Snapshots[ch.String()] = true
		}
		_ = e.DB.View(ctx, func(tx *metadata.Tx) error {
			for _, d := range cfg.RootFS.DiffIDs {
				if l, err := tx.Layer(d); err == nil {
					for _, b := range l.Blobs {
						roots.Blobs[b.Digest] = true
					}
				}
			}
			return nil
		})
	}
	return roots, nil
}

func (e *Engine) readConfig(ctx context.Context, d digest.Digest) (ocispec.Image, error) {
	info, err := e.Content.Info(ctx, d)
	if err != nil {
		return ocispec.Image{}, err
	}
	b, err := e.Content.ReadAll(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: d, Size: info.Size}, manifest.MaxSize)
	if err != nil {
		return ocispec.Image{}, err
	}
	return manifest.DecodeConfig(b)
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
	s, err := e.Containers()
	if err != nil {
		return "", err
	}
	c, err := s.Get(ref)
	if err != nil {
		return "", err
	}
	parent, parentLayers, err := e.containerImage(ctx, c)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", c.Name, err)
	}
	cfg := containerConfig(c, parent.Config)
	if err := build.ApplyChanges(&cfg, opts.Changes); err != nil {
		return "", err
	}

	unlock, err := e.lock(ctx, false)
	if err != nil {
		return "", err
	}
	defer unlock()

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		// Ends when the layer is written (EOF for the reader), on an error
		// (passed to the reader), or when the reader is closed below.
		err := s.Commit(ctx, c.ID, pw, container.CommitOptions{Pause: opts.Pause})
		pw.CloseWithError(err)
		done <- err
	}()
	lay, err := e.layers().ApplyTar(ctx, digest.Digest(c.ChainID), pr, comp)
	pr.CloseWithError(errors.New("commit: layer reader closed"))
	if werr := <-done; err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", c.Name, err)
	}

	now := time.Now().UTC()
	img := parent
	img.Created = &now
	img.Author = opts.Author
	img.Config = cfg
	img.RootFS.Type = "layers"
	img.RootFS.DiffIDs = append(append([]digest.Digest{}, parent.RootFS.DiffIDs...), lay.DiffID)
	img.History = append(append([]ocispec.History{}, parent.History...), ocispec.History{
		Created:   &now,
		CreatedBy: strings.Join(append([]string{c.Path}, c.Args...), " "),
		Comment:   opts.Message,
		Author:    opts.Author,
	})
	layers := append(append([]ocispec.Descriptor{}, parentLayers...), lay.Desc)
	target, id, err := e.Images.Write(ctx, img, layers)
	if err != nil {
		return "", err
	}
	if err := e.Images.Name(ctx, named, target); err != nil {
		return "", err
	}
	return id, nil
}

// containerImage returns the container's image config and layer
// descriptors: from the image if it still resolves, else from its config
// blob and the layer records (the image lost its names).
func (e *Engine) containerImage(ctx context.Context, c *container.Container) (ocispec.Image, []ocispec.Descriptor, error) {
	if img, err := e.ResolveImage(ctx, c.ImageID); err == nil && img.ID().String() == c.ImageID {
		return img.Config, img.Manifest.Layers, nil
	}
	d, err := digest.Parse(c.ImageID)
	if err != nil {
		return ocispec.Image{}, nil, fmt.Errorf("image %s: %w", c.ImageID, err)
	}
	cfg, err := e.readConfig(ctx, d)
	if err != nil {
		return ocispec.Image{}, nil, fmt.Errorf("image %s: %w", c.ImageRef, err)
	}
	var layers []ocispec.Descriptor
	err = e.DB.View(ctx, func(tx *metadata.Tx) error {
		for _, diffID := range cfg.RootFS.DiffIDs {
			l, err := tx.Layer(diffID)
			if err != nil {
				return fmt.Errorf("layer %s: %w", diffID, err)
			}
			if len(l.Blobs) == 0 {
				return fmt.Errorf("layer %s has no blob: %w", diffID, errdefs.ErrNotFound)
			}
			layers = append(layers, l.Blobs[0])
		}
		return nil
	})
	return cfg, layers, err
}

// containerConfig is the image config a commit records: the image's, with
// the container's entrypoint, command, env, workdir and user as it was run
// (docker commit keeps them too).
func containerConfig(c *container.Container, cfg ocispec.ImageConfig) ocispec.ImageConfig {
	o := c.Options
	if o.Entrypoint != nil {
		cfg.Entrypoint = append([]string{}, o.Entrypoint...)
		cfg.Cmd = nil
	}
	if len(o.Cmd) > 0 {
		cfg.Cmd = append([]string{}, o.Cmd...)
	}
	if len(o.Env) > 0 {
		cfg.Env = runtime.MergeEnv(cfg.Env, o.Env)
	}
	if o.WorkingDir != "" {
		cfg.WorkingDir = o.WorkingDir
	}
	if o.User != "" {
		cfg.User = o.User
	}
	return cfg
}

// ContainerInspect is `strata inspect CONTAINER`, shaped as docker's.
type ContainerInspect struct {
	ID              string                `json:"Id"`
	Created         time.Time             `json:"Created"`
	Path            string                `json:"Path"`
	Args            []string              `json:"Args"`
	State           ContainerState        `json:"State"`
	Image           string                `json:"Image"`
	ResolvConfPath  string                `json:"ResolvConfPath"`
	HostnamePath    string                `json:"HostnamePath"`
	HostsPath       string                `json:"HostsPath"`
	LogPath         string                `json:"LogPath"`
	Name            string                `json:"Name"`
	Driver          string                `json:"Driver"`
	HostConfig      ContainerHostConfig   `json:"HostConfig"`
	GraphDriver     GraphDriver           `json:"GraphDriver"`
	Config          ContainerConfig       `json:"Config"`
	NetworkSettings ContainerNetSettings  `json:"NetworkSettings"`
	Mounts          []ContainerMountPoint `json:"Mounts"`
	// RestartCount is how many times the restart policy started the
	// container again since its last start by the user.
	RestartCount int `json:"RestartCount"`
}

// ContainerState is inspect's State.
type ContainerState struct {
	Status     string `json:"Status"` // created, running, paused, exited
	Running    bool   `json:"Running"`
	Paused     bool   `json:"Paused"`
	Restarting bool   `json:"Restarting"`
	OOMKilled  bool   `json:"OOMKilled"`
	Dead       bool   `json:"Dead"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
	// Health is there when the container has a healthcheck.
	Health *runtime.Health `json:"Health,omitempty"`
}

// ContainerHostConfig is inspect's HostConfig (the run flags that are not
// in the image config).
type ContainerHostConfig struct {
	Binds          []string                 `json:"Binds"`
	Mounts         []HostConfigMount        `json:"Mounts,omitempty"`
	VolumesFrom    []string                 `json:"VolumesFrom"`
	NetworkMode    string                   `json:"NetworkMode"`
	PortBindings   map[string][]PortBinding `json:"PortBindings"`
	AutoRemove     bool                     `json:"AutoRemove"`
	ReadonlyRootfs bool                     `json:"ReadonlyRootfs"`
	Init           bool                     `json:"Init"`
	// LogConfig is the log driver (json-file or none) and its options;
	// clients (docker-py's containers.run) read its Type.
	LogConfig LogConfig `json:"LogConfig"`
	IpcMode   string    `json:"IpcMode"`
	PidMode   string    `json:"PidMode"`
	UTSMode   string    `json:"UTSMode"`
	// RestartPolicy is --restart, "no" when unset, as docker shows it.
	RestartPolicy RestartPolicy `json:"RestartPolicy"`
	SecurityHostConfig
	HostConfigResources
}

// LogConfig is docker's logging driver and its options (--log-driver,
// --log-opt).
type LogConfig = runtime.LogConfig

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// ContainerConfig is inspect's Config: the image config as the container
// runs it.
type ContainerConfig struct {
	Hostname     string               `json:"Hostname"`
	User         string               `json:"User"`
	Tty          bool                 `json:"Tty"`
	OpenStdin    bool                 `json:"OpenStdin"`
	Env          []string             `json:"Env"`
	Cmd          []string             `json:"Cmd"`
	Image        string               `json:"Image"`
	WorkingDir   string               `json:"WorkingDir"`
	Entrypoint   []string             `json:"Entrypoint"`
	Labels       map[string]string    `json:"Labels"`
	StopSignal   string               `json:"StopSignal,omitempty"`
	StopTimeout  *int                 `json:"StopTimeout,omitempty"`
	Healthcheck  *runtime.Healthcheck `json:"Healthcheck,omitempty"`
	ExposedPorts map[string]struct{}  `json:"ExposedPorts,omitempty"`
	Volumes      map[string]struct{}  `json:"Volumes"`
}

// ContainerNetSettings is inspect's NetworkSettings, in docker's shape.
type ContainerNetSettings struct {
	SandboxID   string                      `json:"SandboxID"`
	SandboxKey  string                      `json:"SandboxKey"`
	Ports       map[string][]PortBinding    `json:"Ports"`
	Gateway     string                      `json:"Gateway"`
	IPAddress   string                      `json:"IPAddress"`
	IPPrefixLen int                         `json:"IPPrefixLen"`
	MacAddress  string                      `json:"MacAddress"`
	Networks    map[string]EndpointSettings `json:"Networks"`
}

// ContainerMountPoint is one of inspect's Mounts: a bind, a volume or a
// tmpfs, in docker's shape.
type ContainerMountPoint struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// HostConfigMount is one of HostConfig.Mounts (--mount) as given.
type HostConfigMount = apimount.Mount

// InspectContainer returns docker's inspect shape of a container.
func (e *Engine) InspectContainer(ctx context.Context, ref string) (ContainerInspect, error) {
	s, err := e.Containers()
	if err != nil {
		return ContainerInspect{}, err
	}
	d, err := s.Inspect(ctx, ref)
	if err != nil {
		return ContainerInspect{}, err
	}
	o := d.Options
	cfg := containerConfig(&d.Container, d.Config)
	st := d.State
	status := d.Status
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0001-01-01T00:00:00Z"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	ports := map[string][]PortBinding{}
	for _, p := range d.Ports {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		ports[k] = append(ports[k], PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	live := map[string][]PortBinding{}
	for _, p := range st.Ports {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		live[k] = append(live[k], PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	gd := GraphDriver{Name: e.driver, Data: map[string]string{"SnapshotKey": d.SnapshotKey}}
	if up, err := e.Snap.UpperDir(ctx, d.SnapshotKey); err == nil {
		gd.Data["UpperDir"] = up
	}
	if e.driver == "overlay" {
		gd.Data["MergedDir"] = filepath.Join(d.Dir, "bundle", "rootfs")
	}
	mounts := []ContainerMountPoint{}
	vols, _ := e.volumes()
	for _, p := range container.MountPointsOf(&d.Container) {
		mp := ContainerMountPoint{Type: string(p.Type), Name: p.Name, Source: p.Source, Destination: p.Destination,
			Mode: p.Mode, RW: p.RW, Propagation: string(p.Propagation)}
		if p.Type == "volume" {
			mp.Driver = "local"
			if vols != nil {
				mp.Source = vols.Source(p)
			}
		}
		mounts = append(mounts, mp)
	}
	volumes := map[string]struct{}{}
	for d := range cfg.Volumes {
		volumes[d] = struct{}{}
	}
	for _, d := range o.Volumes {
		volumes[d] = struct{}{}
	}
	if len(volumes) == 0 {
		volumes = nil
	}
	return ContainerInspect{
		ID: d.ID, Created: d.Created, Path: d.Path, Args: d.Args,
		State: ContainerState{
			// Restarting is Running as well, as docker has it.
			Status: string(status), Running: st.Running || st.Restarting, Paused: status == container.StatePaused, Pid: livePid(st),
			Restarting: st.Restarting,
			ExitCode:   st.ExitCode, OOMKilled: st.OOMKilled, Error: st.Error, StartedAt: ts(st.StartedAt), FinishedAt: ts(st.FinishedAt),
			Health: d.Health,
		},
		Image:          d.ImageID,
		ResolvConfPath: filepath.Join(d.Dir, "resolv.conf"),
		HostnamePath:   filepath.Join(d.Dir, "hostname"),
		HostsPath:      filepath.Join(d.Dir, "hosts"),
		LogPath:        d.LogPath,
		Name:           "/" + d.Name,
		Driver:         e.driver,
		HostConfig: ContainerHostConfig{
			Binds: o.Binds, Mounts: o.Mounts, VolumesFrom: o.VolumesFrom, NetworkMode: o.Network.String(), PortBindings: ports,
			AutoRemove: o.AutoRemove, ReadonlyRootfs: o.ReadOnly, Init: o.Init, LogConfig: inspectLogConfig(o.LogConfig),
			IpcMode: o.Namespaces.IPCMode(), PidMode: o.Namespaces.PID, UTSMode: o.Namespaces.UTS,
			RestartPolicy:       inspectRestartPolicy(o.RestartPolicy),
			SecurityHostConfig:  securityHostConfig(o.Security, o.SeccompUnconfined),
			HostConfigResources: hostConfigResources(o.Resources),
		},
		GraphDriver: gd,
		Config: ContainerConfig{
			Hostname: o.Hostname, User: cfg.User, Tty: o.Tty, OpenStdin: o.OpenStdin,
			Env: cfg.Env, Cmd: cfg.Cmd, Image: d.ImageRef, WorkingDir: cfg.WorkingDir,
			Entrypoint: cfg.Entrypoint, Labels: cfg.Labels, StopSignal: cfg.StopSignal,
			StopTimeout: o.StopTimeout, ExposedPorts: cfg.ExposedPorts, Healthcheck: o.Healthcheck, Volumes: volumes,
		},
		NetworkSettings: e.netSettings(&d.Container, live),
		Mounts:          mounts,
		RestartCount:    st.RestartCount,
	}, nil
}

// inspectLogConfig is c as docker shows it: the driver always named, the
// options an object even when empty.
func inspectLogConfig(c LogConfig) LogConfig {
	if c.Type == "" {
		c.Type = runtime.LogDriverJSONFile
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	return c
}

// ParseLogConfig reads run's --log-driver and --log-opt values.
func ParseLogConfig(driver string, opts []string) (LogConfig, error) {
	return runtime.ParseLogConfig(driver, opts)
}
