package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	apimount "github.com/moby/moby/api/types/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/volume"
)

// CreateOptions are create/run's inputs: the image (resolved by the
// caller) and the flags. Zero values are docker's defaults.
type CreateOptions struct {
	Name     string              `json:"name,omitempty"`
	ImageRef string              `json:"imageRef"`
	ImageID  string              `json:"imageID"`
	ChainID  string              `json:"chainID"`
	Config   ocispec.ImageConfig `json:"-"`
	// Entrypoint overrides the image's when non-nil (empty clears it);
	// Cmd overrides its Cmd when non-empty.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// Env is KEY=VALUE; resolve -e KEY and --env-file before.
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"`
	Hostname   string   `json:"hostname,omitempty"`
	Tty        bool     `json:"tty,omitempty"`
	OpenStdin  bool     `json:"openStdin,omitempty"`
	ReadOnly   bool     `json:"readOnly,omitempty"`
	// Binds are -v [SOURCE:]DESTINATION[:MODE]: host paths, volumes
	// (made on first use), anonymous volumes (volume.ParseBind).
	Binds []string `json:"binds,omitempty"`
	// Mounts are --mount values (bind, volume, tmpfs).
	Mounts []apimount.Mount `json:"mounts,omitempty"`
	// Volumes are destinations for anonymous volumes beside the image's
	// VOLUMEs (the API's Config.Volumes: docker run -v /path).
	Volumes []string `json:"volumes,omitempty"`
	// VolumesFrom are --volumes-from CONTAINER[:ro|:rw].
	VolumesFrom []string `json:"volumesFrom,omitempty"`
	// Network is bridge (the zero value: the default network), none,
	// host, or a user-defined network's name or ID; in a store without
	// networks the default is none.
	Network        runtime.NetworkMode `json:"network,omitempty"`
	NetworkOptions `json:"networkOptions,omitempty"`
	// SeccompUnconfined is how records before Security kept
	// --security-opt seccomp=unconfined; Start still honours it.
	SeccompUnconfined bool `json:"seccompUnconfined,omitempty"`
	// Security are the hardening flags (--privileged, --cap-add,
	// --device, --security-opt…), checked by Create.
	Security runtime.Security `json:"security,omitempty"`
	Init     bool             `json:"init,omitempty"`
	// Publish are -p [IP:]HOSTPORT:PORT[/tcp] (host IP default 127.0.0.1).
	Publish []string `json:"publish,omitempty"`
	// PublishAll (-P) publishes every port the image EXPOSEs (and not -p)
	// on a free host port.
	PublishAll bool `json:"publishAll,omitempty"`
	// AutoRemove (--rm): a detached container's monitor removes it on
	// exit; an attached run's caller calls Remove after Attach.
	AutoRemove bool `json:"autoRemove,omitempty"`
	// Resources are the resource limits (--memory, --cpus, --ulimit…),
	// checked by Create and changed by Update.
	Resources runtime.Resources `json:"resources"`
	// Labels (--label, --label-file) go over the image's; Expose
	// (--expose PORT[-PORT][/PROTO]) adds to its ExposedPorts; StopSignal
	// (--stop-signal) replaces its STOPSIGNAL. Create merges all three
	// into the container's Config (config.go).
	Labels     map[string]string `json:"labels,omitempty"`
	Expose     []string          `json:"expose,omitempty"`
	StopSignal string            `json:"stopSignal,omitempty"`
	// StopTimeout (--stop-timeout, seconds) is how long stop waits
	// before SIGKILL when it is given no timeout; nil is docker's 10 s.
	StopTimeout *int `json:"stopTimeout,omitempty"`
	// Namespaces are --ipc, --pid and --uts.
	Namespaces runtime.Namespaces `json:"namespaces,omitempty"`
	// Healthcheck is the image's HEALTHCHECK with the --health-* flags
	// merged over it (runtime.MergeHealthcheck), probed by the monitor.
	Healthcheck *runtime.Healthcheck `json:"healthcheck,omitempty"`
	// RestartPolicy is --restart, carried out by the monitor; changed by
	// SetRestartPolicy.
	RestartPolicy runtime.RestartPolicy `json:"restartPolicy,omitempty"`
	// LogConfig is --log-driver and --log-opt (the zero value: json-file,
	// never rotated).
	LogConfig runtime.LogConfig `json:"logConfig,omitempty"`
}

// Create makes a container: a record, a name, a snapshot key
// "container-<id>" on top of opts.ChainID and the files the container
// will see (/etc/hostname, /etc/hosts, /etc/resolv.conf). It mounts
// nothing; Start does. On error nothing is left.
func (s *Store) Create(ctx context.Context, opts CreateOptions) (_ *Container, err error) {
	if opts.ChainID == "" {
		return nil, fmt.Errorf("create container: no image layer (chain ID): %w", errdefs.ErrInvalidArgument)
	}
	ports := make([]runtime.PortMapping, 0, len(opts.Publish))
	for _, p := range opts.Publish {
		pm, err := runtime.ParsePort(p)
		if err != nil {
			return nil, err
		}
		ports = append(ports, pm)
	}
	if opts.Config, err = mergeConfig(opts); err != nil {
		return nil, err
	}
	if err := opts.Namespaces.Check(); err != nil {
		return nil, err
	}
	if opts.Namespaces.UTS == "host" {
		if opts.Hostname != "" {
			return nil, fmt.Errorf("conflicting options: --hostname and --uts=host (the host's hostname is the container's): %w", errdefs.ErrInvalidArgument)
		}
		if opts.Hostname, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("create container: %w", err)
		}
	}
	if opts.PublishAll {
		if ports, err = publishAll(ports, opts.Config.ExposedPorts); err != nil {
			return nil, err
		}
	}
	for _, b := range opts.Binds {
		if _, err := volume.ParseBind(b); err != nil {
			return nil, err
		}
	}
	for _, m := range opts.Mounts {
		if err := volume.Check(m); err != nil {
			return nil, err
		}
	}
	opts.Resources.Normalize()
	if err := opts.Resources.Validate(); err != nil {
		return nil, err
	}
	if err := checkRestartPolicy(opts.RestartPolicy, opts.AutoRemove); err != nil {
		return nil, err
	}
	network, err := runtime.ParseNetworkMode(string(opts.Network))
	if err != nil {
		return nil, err
	}
	opts.Network = network
	if err := s.checkNetwork(&opts); err != nil {
		return nil, err
	}
	if err := opts.Security.Check(opts.Network); err != nil {
		return nil, err
	}
	args := append([]string{}, opts.Config.Entrypoint...)
	cmd := opts.Config.Cmd
	if opts.Entrypoint != nil {
		args, cmd = append([]string{}, opts.Entrypoint...), nil
	}
	if len(opts.Cmd) > 0 {
		cmd = opts.Cmd
	}
	args = append(args, cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("create container: no command specified (the image has no Entrypoint or Cmd): %w", errdefs.ErrInvalidArgument)
	}

	id, err := newID()
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	// The directory first: claimName counts a name whose container has
	// one as taken, so two creates of one name cannot both claim it.
	if err := os.MkdirAll(s.dir(id), 0o711); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	name := opts.Name
	if name == "" {
		for range 10 {
			name = randomName()
			if err = s.claimName(name, id); err == nil {
				break
			}
		}
	} else {
		err = s.claimName(name, id)
	}
	if err != nil {
		os.RemoveAll(s.dir(id))
		return nil, err
	}
	opts.Name = name
	dir := s.dir(id)
	key := "container-" + id
	prepared := false
	defer func() {
		if err != nil {
			if prepared {
				_ = s.sn.Remove(context.WithoutCancel(ctx), key)
			}
			_ = os.RemoveAll(dir)
			_ = os.Remove(s.nameLink(name))
		}
	}()
	points, madeVolumes, err := s.resolveMounts(&opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, v := range madeVolumes {
				_ = s.vols.Remove(v)
			}
		}
	}()
	if err = os.MkdirAll(filepath.Join(dir, "bundle", "rootfs"), 0o711); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	runtime.Tracef("create: claimed")
	if _, err = s.sn.Prepare(ctx, key, opts.ChainID); err != nil {
		return nil, fmt.Errorf("create container from %s: %w", opts.ImageRef, err)
	}
	runtime.Tracef("create: prepared")
	prepared = true
	hostname := opts.Hostname
	if hostname == "" {
		hostname = ShortID(id)
	}
	opts.Hostname = hostname
	if err = writeFile(filepath.Join(dir, "hostname"), hostname+"\n"); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	c := &Container{
		ID: id, Name: name, Created: time.Now().UTC(),
		ImageRef: opts.ImageRef, ImageID: opts.ImageID, ChainID: opts.ChainID,
		Config: opts.Config, Path: args[0], Args: args[1:],
		Options: opts, SnapshotKey: key, Ports: ports, MountPoints: points,
	}
	// /etc/hosts and resolv.conf as they are until a start attaches the
	// container to its network (which rewrites them with its address).
	if err = s.files(c).WriteDetached(hostname, opts.Network == "host"); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err = s.save(c); err != nil {
		return nil, err
	}
	for _, v := range madeVolumes {
		s.vols.Event("create", v, nil)
	}
	s.event(c, "create", nil)
	return c, nil
}

// StartOptions are the options of Start.
type StartOptions struct {
	// Attach holds the process back until Attach is called, so an attached
	// run misses none of its output.
	Attach bool
	// Here, with Attach and no terminal, makes this process the
	// container's monitor (runtime.StartLocalMonitor): an attached run
	// does not start a second one. The caller must Attach, and should
	// outlive the container.
	Here bool
}

// Start mounts the container's rootfs, writes its runtime spec and starts
// its monitor. It returns once the container is created (and, without
// Attach, started). A command that cannot start is a *runtime.StartError
// carrying docker run's exit code (ExitCode reads it); the container is
// then left created, its rootfs unmounted.
func (s *Store) Start(ctx context.Context, ref string, opts StartOptions) (*runtime.Status, error) {
	c, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	dir := s.dir(c.ID)
	if st, err := runtime.Probe(ctx, s.runc, c.ID, dir); err == nil && (st.Running || st.Restarting) {
		return nil, fmt.Errorf("container %s is already running: %w", c.Name, errdefs.ErrConflict)
	}
	// A previous monitor records the exit before it unmounts and deletes;
	// let it finish so it does not undo this start.
	s.waitMonitor(c.ID)
	_ = os.Remove(filepath.Join(dir, pausedFile))
	runtime.ClearStopped(dir)
	rootfs := s.rootfs(c.ID)
	mounts, err := s.sn.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	_ = s.runc.Delete(ctx, c.ID, true)
	if err := mount.UnmountAll(rootfs, 0); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	runtime.Tracef("start: mounting")
	merr := errors.New("not tried")
	if c.Options.AutoRemove {
		// A --rm container's layer goes when it exits, so a crash cannot
		// cost anything worth a sync: overlay's volatile skips them all,
		// the one at unmount too (a few ms of every run --rm, more when
		// the disk is busy). A kernel without it (< 5.10) refuses the
		// option: then mount as usual.
		merr = mount.All(volatile(mounts), rootfs)
	}
	if merr != nil {
		if err := mount.All(mounts, rootfs); err != nil {
			return nil, fmt.Errorf("start %s: mount rootfs: %w", c.Name, err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			_ = mount.UnmountAll(rootfs, 0)
		}
	}()
	o := c.Options
	sec := o.Security
	if o.SeccompUnconfined {
		sec.SecurityOpt = append(slices.Clone(sec.SecurityOpt), "seccomp=unconfined")
	}
	netns, err := s.attach(c)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	defer func() {
		if !ok && netns != "" {
			_ = s.net.Detach(c.ID)
		}
	}()
	volMounts, err := s.runtimeMounts(ctx, c, rootfs)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	spec, err := runtime.Spec(runtime.SpecOptions{
		NetnsPath: netns,
		Rootfs:    rootfs, Config: c.Config,
		Entrypoint: o.Entrypoint, Args: o.Cmd, Env: o.Env,
		WorkingDir: o.WorkingDir, User: o.User, Hostname: o.Hostname,
		Tty: o.Tty, ReadOnly: o.ReadOnly, Mounts: volMounts, Network: o.Network,
		Init: o.Init, InitPath: s.init, InitArgs: s.initArg,
		HostsPath:       filepath.Join(dir, "hosts"),
		HostnamePath:    filepath.Join(dir, "hostname"),
		ResolvConfPath:  filepath.Join(dir, "resolv.conf"),
		CgroupsPath:     cgroupsPath(c.ID),
		Security:        sec,
		NoNewPrivileges: s.nnp,
		Resources:       o.Resources,
		Namespaces:      o.Namespaces,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	// Written again at every start: not worth an fsync.
	if err := runtime.WriteFileAtomicNoSync(filepath.Join(dir, "bundle", "config.json"), spec); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	cfg := runtime.MonitorConfig{
		ID: c.ID, Bundle: filepath.Join(dir, "bundle"), Runc: *s.runc,
		LogPath: s.logPath(c.ID), Tty: o.Tty, OpenStdin: o.OpenStdin, Attach: opts.Attach,
		Ports: c.Ports, HostNetwork: o.Network.Host(), Rootfs: rootfs,
		NoSync: o.AutoRemove, Healthcheck: o.Healthcheck, Restart: o.RestartPolicy, Log: o.LogConfig,
	}
	if netns != "" {
		cfg.NetworkRoot = s.net.Root()
	}
	if s.ev != nil {
		cfg.Events, cfg.EventAttrs = s.ev.Dir(), eventAttrs(c, nil)
	}
	if o.Resources.Memory > 0 {
		cfg.OOMWatch = spec.Linux.CgroupsPath
	}
	// A container with a restart policy needs a monitor that outlives
	// the caller's run.
	here := opts.Here && opts.Attach && !o.Tty && o.RestartPolicy.IsNone()
	if o.AutoRemove {
		// A separate monitor removes a --rm container when it exits, also
		// when a client is attached (run -t, start -a): the client may be
		// killed first. The client's own remove then finds it gone. An
		// in-process monitor's client removes it itself; the standby does
		// if the client is killed.
		cfg.CleanupArgs = append(append([]string{}, s.remove...), c.ID)
	}
	if err := runtime.CreateLog(s.logPath(c.ID), o.LogConfig); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	runtime.Tracef("start: spec written")
	var st *runtime.Status
	if here {
		st, err = runtime.StartLocalMonitor(ctx, dir, cfg)
	} else {
		st, err = runtime.StartMonitor(ctx, dir, s.monitor, cfg)
	}
	if err != nil {
		return nil, err
	}
	ok = true
	s.mountEvents(c)
	s.event(c, "start", nil)
	return st, nil
}

// ExitCode is docker run's exit code for an error from Start or Run: 126
// or 127 for a command that cannot run or is missing, else 125.
func ExitCode(err error) int {
	var se *runtime.StartError
	if errors.As(err, &se) && se.ExitCode != 0 {
		return se.ExitCode
	}
	if err == nil {
		return 0
	}
	return 125
}

// Attach streams a started container's stdio until it exits and returns
// its exit status (see runtime.Attach).
func (s *Store) Attach(ctx context.Context, ref string, o runtime.AttachOptions) (int, error) {
	c, err := s.Get(ref)
	if err != nil {
		return -1, err
	}
	code, err := runtime.Attach(ctx, s.dir(c.ID), o)
	if err != nil {
		return code, err
	}
	// The monitor unmounts after it sends the exit: return once it is
	// done, so nothing of the run is left mounted.
	s.waitMonitor(c.ID)
	// A process held back for the attach may fail to start only now (a
	// command missing or not executable): that is an error, as from Start.
	if st, serr := runtime.ReadStatus(s.dir(c.ID)); serr == nil && st.StartFailed && !st.Running {
		return st.ExitCode, &runtime.StartError{ExitCode: st.ExitCode, Msg: st.Error}
	}
	return code, nil
}

// Status returns the container's process state, checked against runc when
// the monitor is gone (runtime.Probe). A container never started has the
// zero Status. A --rm container whose monitor died and whose process has
// since exited is removed here, as its monitor would have done: the error
// is then errdefs.ErrNotFound.
func (s *Store) Status(ctx context.Context, id string) (*runtime.Status, error) {
	return s.status(ctx, id, true)
}

// status is Status; without remove it leaves a settled --rm container be
// (Remove's own look, which must not come back to Remove).
func (s *Store) status(ctx context.Context, id string, remove bool) (*runtime.Status, error) {
	st, err := runtime.Probe(ctx, s.runc, id, s.dir(id))
	if errdefs.IsNotFound(err) {
		return &runtime.Status{}, nil
	}
	if err != nil {
		return nil, err
	}
	if st.MonitorLost && !st.Running {
		s.settleLost(ctx, id, st)
		st.Settled = true
	}
	// Settled, also by an earlier command whose remove failed.
	if remove && st.Settled && !st.Running && s.removeSettled(ctx, id) {
		return nil, fmt.Errorf("no such container: %s (removed on exit, --rm): %w", ShortID(id), errdefs.ErrNotFound)
	}
	return st, nil
}

// settleLost does what the killed monitor of a container that has since
// exited did not: it records the exit (the time it was first seen, the
// status unknown: 255), so that ps and inspect stop moving, and unmounts
// the rootfs and deletes runc's state, so that nothing of the run stays
// mounted. Two callers doing it at once write the same thing.
func (s *Store) settleLost(ctx context.Context, id string, st *runtime.Status) {
	_ = s.runc.Delete(ctx, id, true)
	_ = mount.UnmountAll(s.rootfs(id), 0)
	if s.net != nil {
		if err := s.net.Detach(id); err != nil {
			runtime.Tracef("settle %s: network detach: %v", ShortID(id), err)
		}
	}
	rec := *st
	rec.MonitorPid, rec.MonitorStart, rec.Settled = 0, 0, true
	_ = runtime.WriteFileAtomic(filepath.Join(s.dir(id), runtime.StatusFile), &rec)
	if c, err := s.load(id); err == nil {
		s.event(c, "die", map[string]string{"exitCode": strconv.Itoa(rec.ExitCode)})
	}
}

// removeSettled removes a settled container if it is a --rm one, as its
// monitor would have, snapshot, name and directory too, and reports
// whether it is gone. Two callers at once: the second finds nothing left
// to remove, or fails and leaves it to the next command.
func (s *Store) removeSettled(ctx context.Context, id string) bool {
	c, err := s.load(id)
	if errdefs.IsNotFound(err) {
		return true
	}
	if err != nil || !c.Options.AutoRemove {
		return false
	}
	if err := s.Remove(context.WithoutCancel(ctx), id, true); err != nil && !errdefs.IsNotFound(err) {
		runtime.Tracef("settle %s: remove: %v", ShortID(id), err)
		return false
	}
	return true
}

// Kill sends sig to the container's processes.
// A kill by the user ends the container's restart policy for this run
// (as docker's does): a restarting container is not started again.
func (s *Store) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if st, err := s.Status(ctx, c.ID); err == nil && st.Restarting {
		return runtime.MarkStopped(s.dir(c.ID))
	}
	c, _, err = s.running(ctx, ref)
	if err != nil {
		return err
	}
	if err := runtime.MarkStopped(s.dir(c.ID)); err != nil {
		return err
	}
	return s.kill(ctx, c, sig)
}

// running is the container ref and its status, or a conflict if it is not
// running.
func (s *Store) running(ctx context.Context, ref string) (*Container, *runtime.Status, error) {
	c, err := s.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil {
		return nil, nil, err
	}
	if !st.Running {
		return nil, nil, fmt.Errorf("container %s is not running: %w", c.Name, errdefs.ErrConflict)
	}
	return c, st, nil
}

func (s *Store) kill(ctx context.Context, c *Container, sig syscall.Signal) error {
	s.event(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := s.runc.Kill(ctx, c.ID, sig, sig == unix.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", c.Name, err)
	}
	return nil
}

// Interrupt sends sig (SIGINT, SIGTERM, SIGHUP or SIGPIPE) to the
// container's init as the terminal or pipe would to a foreground process:
// one that leaves sig at its default action dies of it. The init of a pid
// namespace is spared such a signal (the kernel drops it), so when the
// init neither catches nor ignores sig, it is sent SIGKILL instead: a
// pipeline or a Ctrl-C ends at once rather than after the caller's grace
// period. Other signals, and an init that handles sig, get sig itself.
func (s *Store) Interrupt(ctx context.Context, ref string, sig syscall.Signal) error {
	switch sig {
	case unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGPIPE:
	default:
		return s.Kill(ctx, ref, sig)
	}
	c, st, err := s.running(ctx, ref)
	if err != nil {
		return err
	}
	pid := st.Pid
	if pid == 0 {
		// An attached run learns its pid from runc's state a moment
		// after the start.
		if rs, err := s.runc.State(ctx, c.ID); err == nil {
			pid = rs.Pid
		}
	}
	if pid > 0 && defaultAction(pid, sig) {
		sig = unix.SIGKILL
	}
	return s.kill(ctx, c, sig)
}

// defaultAction reports whether pid leaves sig at its default action (it
// is in neither SigCgt nor SigIgn of /proc/PID/status).
func defaultAction(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	bit := uint64(1) << (uint(sig) - 1)
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "SigCgt" && k != "SigIgn" {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil || mask&bit != 0 {
			return false
		}
		seen++
	}
	return seen == 2
}

// StopOptions are stop's --signal and --timeout.
type StopOptions struct {
	// Signal replaces the container's stop signal (--stop-signal, else
	// the image's STOPSIGNAL, else SIGTERM) when non-zero.
	Signal syscall.Signal
	// Timeout is how long to wait before SIGKILL; nil is the container's
	// --stop-timeout, else 10 s. A negative one waits forever.
	Timeout *time.Duration
}

// DefaultStopTimeout is docker's wait before stop sends SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// Stop sends the container's stop signal (its --stop-signal, else the
// image's STOPSIGNAL, else SIGTERM), waits for it to exit (stop's
// timeout, else its --stop-timeout, else 10 s), then sends SIGKILL. A
// container that is not running is not an error. It ends the container's
// restart policy for this run, also while the monitor waits to restart it.
func (s *Store) Stop(ctx context.Context, ref string, o StopOptions) (err error) {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil || !st.Running && !st.Restarting {
		return err
	}
	defer func() {
		if err == nil {
			s.event(c, "stop", nil)
		}
	}()
	if err := runtime.MarkStopped(s.dir(c.ID)); err != nil {
		return err
	}
	if st.Restarting {
		if !s.waitExit(ctx, c.ID, 10*time.Second) {
			return fmt.Errorf("stop %s: still restarting 10s after the stop", c.Name)
		}
		return nil
	}
	sig := o.Signal
	if sig == 0 {
		if sig, err = ParseSignal(c.Config.StopSignal); err != nil {
			sig = unix.SIGTERM
		}
	}
	timeout := DefaultStopTimeout
	switch {
	case o.Timeout != nil:
		timeout = *o.Timeout
	case c.Options.StopTimeout != nil:
		timeout = time.Duration(*c.Options.StopTimeout) * time.Second
	}
	if timeout < 0 {
		timeout = 100 * 365 * 24 * time.Hour // forever, without overflowing a deadline
	}
	s.event(c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := s.runc.Kill(ctx, c.ID, sig, false); err != nil {
		if st, serr := s.Status(ctx, c.ID); serr == nil && !st.Running {
			return nil
		}
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	if s.waitExit(ctx, c.ID, timeout) {
		return nil
	}
	s.event(c, "kill", map[string]string{"signal": strconv.Itoa(int(unix.SIGKILL))})
	if err := s.runc.Kill(ctx, c.ID, unix.SIGKILL, true); err != nil {
		if st, serr := s.Status(ctx, c.ID); serr == nil && !st.Running {
			return nil
		}
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	// docker waits for the exit without a limit once it has sent SIGKILL; a
	// minute keeps a stuck process (uninterruptible I/O) from hanging the
	// command while letting a loaded machine reap a killed one.
	if !s.waitExit(ctx, c.ID, time.Minute) {
		return fmt.Errorf("stop %s: still running a minute after SIGKILL", c.Name)
	}
	return nil
}

// waitExit polls until the container is not running, for at most d.
func (s *Store) waitExit(ctx context.Context, id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		st, err := s.Status(ctx, id)
		if err == nil && !st.Running && !st.Restarting {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the container (as Stop) and starts it again, detached.
func (s *Store) Restart(ctx context.Context, ref string, o StopOptions) error {
	if err := s.Stop(ctx, ref, o); err != nil {
		return err
	}
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if _, err = s.Start(ctx, c.ID, StartOptions{}); err != nil {
		return err
	}
	s.event(c, "restart", nil)
	return nil
}

// Wait blocks until the container is not running and returns its exit
// status. A container never started is waited for until it has been.
func (s *Store) Wait(ctx context.Context, ref string) (int, error) {
	c, err := s.Get(ref)
	if err != nil {
		return -1, err
	}
	for {
		st, err := s.Status(ctx, c.ID)
		if err != nil {
			return -1, err
		}
		if !st.Running && !st.FinishedAt.IsZero() {
			return st.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Remove deletes a container: its runc state, mounts, snapshot, name and
// directory. A running one is refused unless force, which kills it. An
// AutoRemove (--rm) container's anonymous volumes go with it, as docker's.
func (s *Store) Remove(ctx context.Context, ref string, force bool) error {
	return s.removeContainer(ctx, ref, force, false)
}

// RemoveWithVolumes is Remove that also removes the anonymous volumes
// made for the container which no other container uses (rm -v).
func (s *Store) RemoveWithVolumes(ctx context.Context, ref string, force bool) error {
	return s.removeContainer(ctx, ref, force, true)
}

func (s *Store) removeContainer(ctx context.Context, ref string, force, volumes bool) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	st, err := s.status(ctx, c.ID, false)
	if err != nil {
		return err
	}
	if st.Running || st.Restarting {
		if !force {
			what := "running"
			if st.Restarting {
				what = "restarting"
			}
			return fmt.Errorf("you cannot remove a %s container %s: stop it first or use rm -f: %w", what, ShortID(c.ID), errdefs.ErrConflict)
		}
		if err := runtime.MarkStopped(s.dir(c.ID)); err != nil {
			return err
		}
		_ = s.runc.Kill(ctx, c.ID, unix.SIGKILL, true)
		s.waitExit(ctx, c.ID, 10*time.Second)
	}
	// Let the monitor finish its own cleanup (unless it is our parent,
	// running us as its --rm cleanup command).
	s.waitMonitor(c.ID)
	runtime.Tracef("remove: monitor gone")
	if err := s.runc.Delete(ctx, c.ID, true); err != nil {
		return fmt.Errorf("remove %s: %w", c.Name, err)
	}
	dir := s.dir(c.ID)
	if err := mount.UnmountAll(s.rootfs(c.ID), 0); err != nil {
		return fmt.Errorf("remove %s: %w", c.Name, err)
	}
	if left, err := mount.MountedUnder(dir); err == nil {
		for _, m := range left {
			_ = mount.UnmountAll(m, unix.MNT_DETACH)
		}
	}
	runtime.Tracef("remove: unmounted")
	if err := s.sn.Remove(ctx, c.SnapshotKey); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", c.Name, err)
	}
	runtime.Tracef("remove: snapshot removed")
	if s.net != nil {
		if err := s.net.Detach(c.ID); err != nil {
			return fmt.Errorf("remove %s: %w", c.Name, err)
		}
	}
	if link, err := os.Readlink(s.nameLink(c.Name)); err == nil && link == c.ID {
		_ = os.Remove(s.nameLink(c.Name))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", c.Name, err)
	}
	s.event(c, "destroy", nil)
	if volumes || c.Options.AutoRemove {
		return s.removeVolumes(c)
	}
	return nil
}

// waitMonitor waits (at most 5 s) for the monitor of a container that is
// no longer running to finish its cleanup and exit. It does not wait for
// its own parent: a monitor running "strata rm -f ID" as its cleanup.
func (s *Store) waitMonitor(id string) {
	if runtime.WaitLocalMonitor(s.dir(id)) {
		return
	}
	st, err := runtime.ReadStatus(s.dir(id))
	if err != nil || st.MonitorPid == os.Getppid() || st.MonitorPid == os.Getpid() {
		return
	}
	if st.Running || st.Restarting {
		// The monitor goes on: its restart policy started the container
		// again, or is about to.
		return
	}
	// A pidfd wakes us the moment the monitor exits; without one, poll.
	if fd, err := unix.PidfdOpen(st.MonitorPid, 0); err == nil {
		defer unix.Close(fd)
		if runtime.MonitorAlive(st, s.dir(id)) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, 5000); !errors.Is(err, unix.EINTR) {
					return
				}
			}
		}
		return
	}
	for i := 0; i < 500 && runtime.MonitorAlive(st, s.dir(id)); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// ParseSignal parses a signal as docker does: "SIGTERM", "TERM" or "15".
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q: %w", s, errdefs.ErrInvalidArgument)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q: %w", s, errdefs.ErrInvalidArgument)
}

// pausedFile marks a container paused by Pause, so ps need not ask runc.
const pausedFile = "paused"

// Pause freezes every process of a running container (runc pause).
func (s *Store) Pause(ctx context.Context, ref string) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if st, err := s.Status(ctx, c.ID); err != nil || !st.Running {
		return fmt.Errorf("container %s is not running: %w", c.Name, errdefs.ErrConflict)
	}
	if err := s.runc.Pause(ctx, c.ID); err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, err)
	}
	s.event(c, "pause", nil)
	return writeFile(filepath.Join(s.dir(c.ID), pausedFile), "")
}

// Unpause thaws a paused container (runc resume).
func (s *Store) Unpause(ctx context.Context, ref string) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if err := s.runc.Resume(ctx, c.ID); err != nil {
		return fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	_ = os.Remove(filepath.Join(s.dir(c.ID), pausedFile))
	s.event(c, "unpause", nil)
	return nil
}

// paused reports whether the running container id was paused by Pause.
func (s *Store) paused(id string) bool {
	_, err := os.Stat(filepath.Join(s.dir(id), pausedFile))
	return err == nil
}

// volatile returns mounts with overlay's "volatile" option: no syncs, and
// an upper dir that no later mount accepts after a crash (or at all: the
// option leaves a mark in the work dir, so a volatile layer is mounted
// once, which a --rm container is).
func volatile(mounts []mount.Mount) []mount.Mount {
	out := make([]mount.Mount, len(mounts))
	for i, m := range mounts {
		out[i] = m
		if m.Type == "overlay" {
			out[i].Options = append(append([]string{}, m.Options...), "volatile")
		}
	}
	return out
}
