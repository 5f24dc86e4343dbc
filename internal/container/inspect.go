package container

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/network"
	"github.com/strata-project/strata/internal/runtime"
)

// InspectResponse is `strata inspect CONTAINER`, shaped as docker's.
type InspectResponse struct {
	ID              string            `json:"Id"`
	Created         time.Time         `json:"Created"`
	Path            string            `json:"Path"`
	Args            []string          `json:"Args"`
	State           InspectState      `json:"State"`
	Image           string            `json:"Image"`
	ResolvConfPath  string            `json:"ResolvConfPath"`
	HostnamePath    string            `json:"HostnamePath"`
	HostsPath       string            `json:"HostsPath"`
	LogPath         string            `json:"LogPath"`
	Name            string            `json:"Name"`
	Driver          string            `json:"Driver"`
	HostConfig      InspectHostConfig `json:"HostConfig"`
	GraphDriver     GraphDriver       `json:"GraphDriver"`
	Config          InspectConfig     `json:"Config"`
	NetworkSettings NetworkSettings   `json:"NetworkSettings"`
	Mounts          []InspectMount    `json:"Mounts"`
	// RestartCount is how many times the restart policy started the
	// container again since its last start by the user.
	RestartCount int `json:"RestartCount"`
}

// InspectState is inspect's State.
type InspectState struct {
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

// InspectHostConfig is inspect's HostConfig (the run flags that are not
// in the image config).
type InspectHostConfig struct {
	Binds          []string                 `json:"Binds"`
	Mounts         []mount.Mount            `json:"Mounts,omitempty"`
	VolumesFrom    []string                 `json:"VolumesFrom"`
	NetworkMode    string                   `json:"NetworkMode"`
	PortBindings   map[string][]PortBinding `json:"PortBindings"`
	AutoRemove     bool                     `json:"AutoRemove"`
	ReadonlyRootfs bool                     `json:"ReadonlyRootfs"`
	Init           bool                     `json:"Init"`
	// LogConfig is the log driver (json-file or none) and its options;
	// clients (docker-py's containers.run) read its Type.
	LogConfig runtime.LogConfig `json:"LogConfig"`
	IpcMode   string            `json:"IpcMode"`
	PidMode   string            `json:"PidMode"`
	UTSMode   string            `json:"UTSMode"`
	// RestartPolicy is --restart, "no" when unset, as docker shows it.
	RestartPolicy runtime.RestartPolicy `json:"RestartPolicy"`
	runtime.SecurityHostConfig
	runtime.HostConfigResources
}

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// GraphDriver names the snapshotter and the layer directories (of a
// container, or of an image: docker's inspect shows both so).
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// InspectConfig is inspect's Config: the image config as the container
// runs it.
type InspectConfig struct {
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

// NetworkSettings is inspect's NetworkSettings, in docker's shape.
type NetworkSettings struct {
	SandboxID   string                      `json:"SandboxID"`
	SandboxKey  string                      `json:"SandboxKey"`
	Ports       map[string][]PortBinding    `json:"Ports"`
	Gateway     string                      `json:"Gateway"`
	IPAddress   string                      `json:"IPAddress"`
	IPPrefixLen int                         `json:"IPPrefixLen"`
	MacAddress  string                      `json:"MacAddress"`
	Networks    map[string]EndpointSettings `json:"Networks"`
}

// EndpointSettings is one network of inspect's NetworkSettings.Networks.
type EndpointSettings struct {
	IPAMConfig  any      `json:"IPAMConfig"`
	Links       []string `json:"Links"`
	Aliases     []string `json:"Aliases"`
	MacAddress  string   `json:"MacAddress"`
	NetworkID   string   `json:"NetworkID"`
	EndpointID  string   `json:"EndpointID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	DNSNames    []string `json:"DNSNames"`
}

// InspectMount is one of inspect's Mounts: a bind, a volume or a tmpfs,
// in docker's shape.
type InspectMount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// InspectDocker returns docker's inspect shape of a container.
func (s *Store) InspectDocker(ctx context.Context, ref string) (InspectResponse, error) {
	d, err := s.Inspect(ctx, ref)
	if err != nil {
		return InspectResponse{}, err
	}
	o := d.Options
	cfg := ImageConfig(&d.Container, d.Config)
	st := d.State
	status := d.Status
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0001-01-01T00:00:00Z"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	gd := GraphDriver{Name: s.driver, Data: map[string]string{"SnapshotKey": d.SnapshotKey}}
	if up, err := s.sn.UpperDir(ctx, d.SnapshotKey); err == nil {
		gd.Data["UpperDir"] = up
	}
	if s.driver == "overlay" {
		gd.Data["MergedDir"] = filepath.Join(d.Dir, "bundle", "rootfs")
	}
	mounts := []InspectMount{}
	for _, p := range d.mountPoints() {
		mp := InspectMount{Type: string(p.Type), Name: p.Name, Source: p.Source, Destination: p.Destination,
			Mode: p.Mode, RW: p.RW, Propagation: string(p.Propagation)}
		if p.Type == "volume" {
			mp.Driver = "local"
			mp.Source = s.vols.Source(p)
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
	pid := 0 // the process's while it runs, as docker shows it
	if st.Running {
		pid = st.Pid
	}
	return InspectResponse{
		ID: d.ID, Created: d.Created, Path: d.Path, Args: d.Args,
		State: InspectState{
			// Restarting is Running as well, as docker has it.
			Status: string(status), Running: st.Running || st.Restarting, Paused: status == StatePaused, Pid: pid,
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
		Driver:         s.driver,
		HostConfig: InspectHostConfig{
			Binds: o.Binds, Mounts: o.Mounts, VolumesFrom: o.VolumesFrom, NetworkMode: o.Network.String(), PortBindings: portBindings(d.Ports),
			AutoRemove: o.AutoRemove, ReadonlyRootfs: o.ReadOnly, Init: o.Init, LogConfig: inspectLogConfig(o.LogConfig),
			IpcMode: o.Namespaces.IPCMode(), PidMode: o.Namespaces.PID, UTSMode: o.Namespaces.UTS,
			RestartPolicy:       inspectRestartPolicy(o.RestartPolicy),
			SecurityHostConfig:  o.Security.HostConfig(o.SeccompUnconfined),
			HostConfigResources: o.Resources.HostConfig(),
		},
		GraphDriver: gd,
		Config: InspectConfig{
			Hostname: o.Hostname, User: cfg.User, Tty: o.Tty, OpenStdin: o.OpenStdin,
			Env: cfg.Env, Cmd: cfg.Cmd, Image: d.ImageRef, WorkingDir: cfg.WorkingDir,
			Entrypoint: cfg.Entrypoint, Labels: cfg.Labels, StopSignal: cfg.StopSignal,
			StopTimeout: o.StopTimeout, ExposedPorts: cfg.ExposedPorts, Healthcheck: o.Healthcheck, Volumes: volumes,
		},
		NetworkSettings: s.netSettings(ctx, &d.Container, portBindings(st.Ports)),
		Mounts:          mounts,
		RestartCount:    st.RestartCount,
	}, nil
}

// portBindings are ports by "PORT/PROTO", in docker's shape.
func portBindings(ports []runtime.PortMapping) map[string][]PortBinding {
	out := map[string][]PortBinding{}
	for _, p := range ports {
		k := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		out[k] = append(out[k], PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	return out
}

// ImageConfig is the image config a commit records and inspect shows: the
// image's, with the container's entrypoint, command, env, workdir and
// user as it was run (docker commit keeps them too).
func ImageConfig(c *Container, cfg ocispec.ImageConfig) ocispec.ImageConfig {
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

// inspectLogConfig is c as docker shows it: the driver always named, the
// options an object even when empty.
func inspectLogConfig(c runtime.LogConfig) runtime.LogConfig {
	if c.Type == "" {
		c.Type = runtime.LogDriverJSONFile
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	return c
}

// inspectRestartPolicy is p as inspect shows it: "no" when unset.
func inspectRestartPolicy(p runtime.RestartPolicy) runtime.RestartPolicy {
	if p.IsNone() {
		p.Name = runtime.RestartNo
	}
	return p
}

// netSettings fills inspect's NetworkSettings from the container's
// networks and, while it is attached, its sandbox: addresses, gateway,
// MAC, aliases, as docker shows them (the top-level address fields only
// for the default network).
func (s *Store) netSettings(ctx context.Context, c *Container, ports map[string][]PortBinding) NetworkSettings {
	ns := NetworkSettings{Ports: ports, Networks: map[string]EndpointSettings{}}
	m := s.net
	if m == nil {
		return ns
	}
	var sb *network.Sandbox
	if st, err := s.Status(ctx, c.ID); err == nil && st.Running {
		sb, _ = m.Sandbox(c.ID)
	}
	if sb != nil {
		ns.SandboxID, ns.SandboxKey = network.EndpointID(c.ID, "sandbox"), sb.Netns
	}
	for _, r := range networkRequests(c) {
		name := r.Network
		if name == "" || name == "default" {
			name = network.Default
		}
		es := EndpointSettings{Aliases: r.Aliases, MacAddress: r.MAC}
		if name == "host" || name == "none" {
			es.NetworkID = network.Predefined(name).ID
			ns.Networks[name] = es
			continue
		}
		n, err := m.Get(name)
		if err != nil {
			continue
		}
		es.NetworkID = n.ID
		if n.UserDefined() {
			es.DNSNames = append([]string{c.Name}, r.Aliases...)
			es.DNSNames = append(es.DNSNames, ShortID(c.ID))
		}
		if sb != nil {
			for _, ep := range sb.Endpoints {
				if ep.NetworkID == n.ID {
					es.EndpointID = network.EndpointID(c.ID, n.ID)
					es.Gateway, es.IPAddress, es.IPPrefixLen, es.MacAddress = ep.Gateway, ep.IP, ep.PrefixLen, ep.MAC
				}
			}
		}
		if !n.UserDefined() {
			ns.Gateway, ns.IPAddress, ns.IPPrefixLen, ns.MacAddress = es.Gateway, es.IPAddress, es.IPPrefixLen, es.MacAddress
		}
		ns.Networks[n.Name] = es
	}
	return ns
}
