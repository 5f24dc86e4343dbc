package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// noSuchContainer turns the engine's not-found into docker's message.
func noSuchContainer(name string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("No such container: %s: %w", name, errdefs.ErrNotFound)
	}
	return err
}

// GET /containers/{name}/json. docker inspect asks for a container first
// and then an image.
func (s *Server) inspectContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.InspectContainer(r.Context(), name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	return writeJSON(w, http.StatusOK, c)
}

// GET /containers/json?all=1&size=1&filters=...
func (s *Server) listContainers(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	for k := range f {
		switch k {
		case "id", "name", "status", "label":
		default:
			return fmt.Errorf("invalid filter '%s' (Strata filters containers by id, name, status and label): %w", k, errdefs.ErrInvalidArgument)
		}
	}
	out, err := s.containerSummaries(r.Context(), engine.ContainerListOptions{All: boolParam(r, "all"), Size: boolParam(r, "size")}, func(sum *container.Summary) bool { return matchContainer(f, sum) })
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < len(out) {
		out = out[:n]
	}
	return writeJSON(w, http.StatusOK, out)
}

// containerSummaries are the rows of GET /containers/json (and of
// /system/df) that keep says to keep.
func (s *Server) containerSummaries(ctx context.Context, opts engine.ContainerListOptions, keep func(*container.Summary) bool) ([]container.Summary, error) {
	rows, err := s.eng.ListContainers(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := []container.Summary{}
	for _, row := range rows {
		// The engine quotes the command as docker ps prints it; the
		// API gives it plain and the client quotes.
		cmd := row.Command
		if u, err := strconv.Unquote(cmd); err == nil {
			cmd = u
		}
		sum := container.Summary{ID: row.ID, Names: []string{"/" + row.Name}, Image: row.Image, Command: cmd, Created: row.Created.Unix(),
			State: container.ContainerState(row.State), Status: row.Status, SizeRw: row.SizeRw, Labels: map[string]string{}, Ports: []container.PortSummary{}}
		if insp, err := s.eng.InspectContainer(ctx, row.ID); err == nil {
			sum.ImageID = insp.Image
			for k, v := range insp.Config.Labels {
				sum.Labels[k] = v
			}
		}
		if keep(&sum) {
			out = append(out, sum)
		}
	}
	return out, nil
}

func matchContainer(f map[string][]string, sum *container.Summary) bool {
	any := func(key string, ok func(v string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	// Every label filter must hold (docker's), each KEY or KEY=VALUE.
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := sum.Labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return any("id", func(v string) bool { return strings.HasPrefix(sum.ID, v) }) &&
		any("name", func(v string) bool { return strings.Contains(sum.Names[0], strings.TrimPrefix(v, "/")) }) &&
		any("status", func(v string) bool { return string(sum.State) == v })
}

// The HostConfig and Config fields Strata honours. Any other field sent
// with a non-default value is refused with 400 naming it, never ignored.
var (
	supportedConfig = set("Hostname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce",
		"Env", "Cmd", "Image", "WorkingDir", "Entrypoint", "Labels", "Domainname", "ExposedPorts", "Volumes", "StopSignal", "StopTimeout")
	supportedHostConfig = set("Binds", "Mounts", "VolumesFrom", "AutoRemove", "ReadonlyRootfs", "PortBindings", "NetworkMode", "Init", "Privileged",
		"CapAdd", "CapDrop", "Devices", "GroupAdd", "Tmpfs", "Sysctls", "SecurityOpt",
		"Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpusetCpus", "PidsLimit", "Ulimits", "ShmSize", "OomKillDisable",
		"LogConfig", "RestartPolicy", "ConsoleSize", "CgroupnsMode", "Isolation", "MaskedPaths", "ReadonlyPaths",
		"Dns", "DnsSearch", "DnsOptions", "ExtraHosts", "PublishAllPorts")
)

func set(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// zero reports whether a decoded JSON value is a default: null, false, 0,
// "", an empty list or object, or an object of defaults.
func zero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, x := range v {
			if !zero(x) {
				return false
			}
		}
		return true
	}
	return false
}

// unsupported names the first field of body Strata would otherwise ignore.
func unsupported(body []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for k, v := range raw {
		switch {
		case k == "HostConfig":
			hc, _ := v.(map[string]any)
			for hk, hv := range hc {
				if !supportedHostConfig[hk] && !zero(hv) && !(hk == "MemorySwappiness" && hv == -1.0) {
					return fmt.Errorf("HostConfig.%s is not supported by Strata: %w", hk, errdefs.ErrInvalidArgument)
				}
			}
		case k == "NetworkingConfig":
			// Read by createOptions: each endpoint's Aliases.
		case !supportedConfig[k] && !zero(v):
			return fmt.Errorf("Config.%s is not supported by Strata: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// createOptions maps docker's create request onto the engine's options.
func createOptions(req *container.CreateRequest, name string) (engine.CreateOptions, error) {
	cfg := req.Config
	if cfg == nil {
		cfg = &container.Config{}
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	opts := engine.CreateOptions{
		Name: name, Cmd: cfg.Cmd, Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User, Hostname: cfg.Hostname,
		Tty: cfg.Tty, OpenStdin: cfg.OpenStdin, ReadOnly: hc.ReadonlyRootfs, Binds: hc.Binds, AutoRemove: hc.AutoRemove,
		PublishAll: hc.PublishAllPorts,
	}
	if cfg.Entrypoint != nil {
		opts.Entrypoint = cfg.Entrypoint
	}
	// Labels go over the image's (compose finds its containers by them);
	// ExposedPorts add to the image's, as --expose.
	opts.Labels, opts.StopSignal, opts.StopTimeout = cfg.Labels, cfg.StopSignal, cfg.StopTimeout
	for p := range cfg.ExposedPorts {
		opts.Expose = append(opts.Expose, p.String())
	}
	// Volumes: -v /path (docker's CLI sends anonymous volumes here);
	// Binds: -v SOURCE:DEST; Mounts: --mount.
	for d := range cfg.Volumes {
		opts.Volumes = append(opts.Volumes, d)
	}
	sort.Strings(opts.Volumes)
	opts.Mounts, opts.VolumesFrom = hc.Mounts, hc.VolumesFrom
	if hc.Init != nil {
		opts.Init = *hc.Init
	}
	opts.RestartPolicy = engine.RestartPolicy{Name: string(hc.RestartPolicy.Name), MaximumRetryCount: hc.RestartPolicy.MaximumRetryCount}
	if t := hc.LogConfig.Type; t != "" && t != "json-file" {
		return opts, fmt.Errorf("HostConfig.LogConfig.Type %q is not supported (Strata logs json-file): %w", t, errdefs.ErrInvalidArgument)
	}
	opts.DNS, opts.DNSSearch, opts.DNSOptions, opts.ExtraHosts = addrStrings(hc.DNS), hc.DNSSearch, hc.DNSOptions, hc.ExtraHosts
	if req.NetworkingConfig != nil {
		for _, ep := range req.NetworkingConfig.EndpointsConfig {
			if ep != nil {
				opts.Aliases = append(opts.Aliases, ep.Aliases...)
			}
		}
	}
	// "default" is the engine's default network (docker's "bridge").
	if m := string(hc.NetworkMode); m != "" && m != "default" {
		mode, err := engine.ParseNetworkMode(m)
		if err != nil {
			return opts, fmt.Errorf("HostConfig.NetworkMode: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		opts.Network = mode
	}
	for port, bindings := range hc.PortBindings {
		for _, b := range bindings {
			ip := b.HostIP.String()
			if !b.HostIP.IsValid() {
				ip = ""
			}
			spec := b.HostPort + ":" + port.String()
			if ip != "" {
				spec = ip + ":" + spec
			}
			opts.Publish = append(opts.Publish, spec)
		}
	}
	sh := engine.SecurityHostConfig{Privileged: hc.Privileged, CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, GroupAdd: hc.GroupAdd,
		Sysctls: hc.Sysctls, SecurityOpt: hc.SecurityOpt, Tmpfs: hc.Tmpfs}
	for _, d := range hc.Devices {
		sh.Devices = append(sh.Devices, engine.DeviceMapping{PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, CgroupPermissions: d.CgroupPermissions})
	}
	opts.Security = engine.SecurityFromHostConfig(sh)
	res := hc.Resources
	opts.Resources = engine.Resources{Memory: res.Memory, MemorySwap: res.MemorySwap, MemoryReservation: res.MemoryReservation, NanoCPUs: res.NanoCPUs,
		CPUShares: res.CPUShares, CpusetCpus: res.CpusetCpus, ShmSize: hc.ShmSize}
	if res.PidsLimit != nil {
		opts.Resources.PidsLimit = *res.PidsLimit
	}
	if res.OomKillDisable != nil {
		opts.Resources.OomKillDisable = *res.OomKillDisable
	}
	for _, u := range res.Ulimits {
		opts.Resources.Ulimits = append(opts.Resources.Ulimits, &units.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	return opts, nil
}

// POST /containers/create?name=NAME. A missing image is 404 "No such
// image", on which the docker CLI pulls and creates again.
func (s *Server) createContainer(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := unsupported(body); err != nil {
		return err
	}
	var req container.CreateRequest
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if req.Config == nil || req.Config.Image == "" {
		return fmt.Errorf("Config.Image is required: %w", errdefs.ErrInvalidArgument)
	}
	opts, err := createOptions(&req, r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	// Only a missing image may answer "No such image": on it the docker
	// CLI pulls (from docker.io for a short name), so another missing
	// thing (a network) must not be reported so.
	if _, err := s.eng.ResolveImage(r.Context(), req.Config.Image); err != nil {
		return noSuchImage(req.Config.Image, err)
	}
	c, err := s.eng.CreateContainer(r.Context(), req.Config.Image, opts)
	if errdefs.IsNotFound(err) {
		// Not the image (resolved above) but something it names, such as
		// a network: 400, since clients take any 404 here for a missing
		// image and pull.
		return fmt.Errorf("%s: %w", errdefs.Message(err), errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID, Warnings: []string{}})
}

// POST /containers/{name}/start: with a client attached (docker run's
// attach before start), the container's streams go to it; else detached.
func (s *Server) startContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	if a := s.runs.takeAttach(c.ID); a != nil {
		if err := s.startAttached(c.ID, a); err != nil {
			return err
		}
	} else if err := s.eng.StartContainer(r.Context(), c.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopTimeout reads ?t=SECONDS (default 10, docker's).
func stopTimeout(r *http.Request) (engine.StopOptions, error) {
	var o engine.StopOptions
	if v := r.URL.Query().Get("signal"); v != "" {
		sig, err := engine.ParseSignal(v)
		if err != nil {
			return o, err
		}
		o.Signal = sig
	}
	v := r.URL.Query().Get("t")
	if v == "" {
		return o, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return o, fmt.Errorf("invalid t %q: want seconds: %w", v, errdefs.ErrInvalidArgument)
	}
	d := time.Duration(n) * time.Second
	o.Timeout = &d
	return o, nil
}

func (s *Server) stopContainer(w http.ResponseWriter, r *http.Request, name string) error {
	d, err := stopTimeout(r)
	if err != nil {
		return err
	}
	if err := s.eng.StopContainer(r.Context(), name, d); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) restartContainer(w http.ResponseWriter, r *http.Request, name string) error {
	d, err := stopTimeout(r)
	if err != nil {
		return err
	}
	if err := s.eng.RestartContainer(r.Context(), name, d); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) killContainer(w http.ResponseWriter, r *http.Request, name string) error {
	sig := r.URL.Query().Get("signal")
	if sig == "" {
		sig = "KILL"
	}
	signal, err := engine.ParseSignal(sig)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := s.eng.KillContainer(r.Context(), name, signal); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pauseContainer(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.eng.PauseContainer(r.Context(), name); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) unpauseContainer(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.eng.UnpauseContainer(r.Context(), name); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// DELETE /containers/{name}?force=1
func (s *Server) removeContainer(w http.ResponseWriter, r *http.Request, name string) error {
	remove := s.eng.RemoveContainer
	if boolParam(r, "v") {
		remove = s.eng.RemoveContainerVolumes // and its anonymous volumes
	}
	if err := remove(r.Context(), name, boolParam(r, "force")); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /containers/{name}/wait?condition=not-running|next-exit|removed.
// The docker CLI sends it before start: the status line goes out at once,
// the body when the condition holds.
func (s *Server) waitContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	cond := r.URL.Query().Get("condition")
	switch cond {
	case "", "not-running", "next-exit", "removed":
	default:
		return fmt.Errorf("invalid condition %q (want not-running, next-exit or removed): %w", cond, errdefs.ErrInvalidArgument)
	}
	// Before the header: the client may send start the moment it has it.
	started := s.runs.nextStart(c.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	code, err := s.runs.wait(r.Context(), s.eng, c.ID, cond, started)
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil && !errors.Is(err, r.Context().Err()) {
		resp.Error = &container.WaitExitError{Message: errdefs.Message(err)}
	}
	return json.NewEncoder(w).Encode(resp)
}

// GET /containers/{name}/logs?stdout=1&stderr=1&follow=1&tail=N&since=&until=&timestamps=1
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	q := r.URL.Query()
	if !boolParam(r, "stdout") && !boolParam(r, "stderr") {
		return fmt.Errorf("you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	opts := engine.LogsOptions{Follow: boolParam(r, "follow"), Timestamps: boolParam(r, "timestamps")}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid tail %q: want a number or all: %w", t, errdefs.ErrInvalidArgument)
		}
		opts.Tail, opts.TailSet = n, true
	}
	for _, p := range []struct {
		key string
		to  *time.Time
	}{{"since", &opts.Since}, {"until", &opts.Until}} {
		if v := q.Get(p.key); v != "" && v != "0" {
			t, err := engine.ParseLogTime(v, time.Now())
			if err != nil {
				return fmt.Errorf("invalid %s %q: %v: %w", p.key, v, err, errdefs.ErrInvalidArgument)
			}
			*p.to = t
		}
	}
	tty := c.Options.Tty
	if tty {
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	} else {
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	}
	w.WriteHeader(http.StatusOK)
	stdout, stderr := streams(w, tty, boolParam(r, "stdout"), boolParam(r, "stderr"))
	err = s.eng.ContainerLogs(r.Context(), c.ID, opts, stdout, stderr)
	if err != nil && r.Context().Err() == nil {
		// The status is sent: tell the client on stderr, as dockerd does.
		fmt.Fprintf(stderr, "Error: %s\n", errdefs.Message(err))
	}
	return nil
}

func addrStrings[T fmt.Stringer](xs []T) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.String())
	}
	return out
}
