package runtime

import (
	"fmt"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// DefaultPath is the PATH a container gets when its image sets none, as
// docker's.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// InitTarget is where SpecOptions.InitPath is bind-mounted (read-only) in
// the container when Init is set.
const InitTarget = "/sbin/strata-init"

// SpecOptions are the inputs of Spec: the image's config and the run flags.
// The zero value of each flag means docker's default.
type SpecOptions struct {
	// Rootfs is the container's mounted root filesystem (bundle/rootfs). It
	// is read for /etc/passwd and /etc/group and becomes Root.Path.
	Rootfs string
	// Config is the image's config (Env, Entrypoint, Cmd, WorkingDir, User).
	Config ocispec.ImageConfig

	// Entrypoint replaces the image's entrypoint when non-nil; an empty
	// non-nil slice clears it (docker's --entrypoint ""). As in docker, an
	// entrypoint override also drops the image's Cmd.
	Entrypoint []string
	// Args replace the image's Cmd when non-empty.
	Args []string
	// Env entries (KEY=VALUE) override the image's.
	Env []string
	// WorkingDir overrides the image's (absolute).
	WorkingDir string
	// User overrides the image's: name|uid[:group|gid], looked up in the
	// rootfs's /etc/passwd and /etc/group.
	User string
	// Hostname is the container's UTS hostname (default: the ID's 12-char
	// short form, set by the caller).
	Hostname string
	Tty      bool
	// ReadOnly mounts the rootfs read-only.
	ReadOnly bool
	// Mounts are the container's binds, volumes and tmpfs mounts from -v
	// and --mount, resolved by package volume (parents first), added after
	// docker's default mounts and before --tmpfs's.
	Mounts []specs.Mount
	// Network is none or host; any other mode (bridge, a user-defined
	// network) joins NetnsPath, the sandbox package network made. Without
	// NetnsPath every mode but host gets a new namespace holding only lo.
	Network   NetworkMode
	NetnsPath string
	// Init runs InitArgs (InitTarget first) as pid 1 in front of the
	// process; InitPath is the host binary bind-mounted at InitTarget.
	Init     bool
	InitPath string
	InitArgs []string
	// HostsPath, HostnamePath and ResolvConfPath are host files bind-mounted
	// at /etc/hosts, /etc/hostname and /etc/resolv.conf when set.
	HostsPath, HostnamePath, ResolvConfPath string
	// CgroupsPath is the container's cgroup (default /strata/<hostname>).
	CgroupsPath string
	// Security are the hardening flags (capabilities, seccomp, devices…);
	// the zero value is docker's default posture.
	Security Security
	// NoNewPrivileges is the engine's default for no-new-privileges
	// (docker's: off), which a security option overrides.
	NoNewPrivileges bool
	// Resources are the cgroup limits, rlimits and /dev/shm size
	// (resources.go).
	Resources Resources
	// Namespaces are --ipc, --pid and --uts (namespaces.go).
	Namespaces Namespaces
}

// Spec builds the OCI runtime spec for a container from opts: new pid,
// mount, uts, ipc (and, unless host networking, net) namespaces; /proc,
// read-only /sys, a minimal /dev; docker's default capabilities, seccomp
// profile, masked and read-only paths, unless opts.Security says
// otherwise.
func Spec(opts SpecOptions) (*specs.Spec, error) {
	args, err := processArgs(opts)
	if err != nil {
		return nil, err
	}
	user, err := resolveUser(opts.Rootfs, firstNonEmpty(opts.User, opts.Config.User))
	if err != nil {
		return nil, err
	}
	cwd := firstNonEmpty(opts.WorkingDir, opts.Config.WorkingDir, "/")
	if !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory %q: must be absolute: %w", cwd, errdefs.ErrInvalidArgument)
	}
	env := MergeEnv(opts.Config.Env, opts.Env)
	// Docker's order: PATH, HOSTNAME, TERM, then the image's and the flags'.
	head := []string{"PATH=" + DefaultPath, "HOSTNAME=" + opts.Hostname}
	if opts.Tty {
		head = append(head, "TERM=xterm")
	}
	env = MergeEnv(head, env)
	if u, ok := LookupEnv(env, "HOME"); !ok || u == "" {
		env = MergeEnv(env, []string{"HOME=" + user.home})
	}

	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: opts.Hostname,
		Root:     &specs.Root{Path: opts.Rootfs, Readonly: opts.ReadOnly},
		Process: &specs.Process{
			Terminal: opts.Tty,
			User:     user.User,
			Args:     args,
			Env:      env,
			Cwd:      filepath.Clean(cwd),
			Rlimits:  []specs.POSIXRlimit{nofile()},
		},
		Mounts: defaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.IPCNamespace},
			},
			CgroupsPath:   firstNonEmpty(opts.CgroupsPath, "/strata/"+opts.Hostname),
			MaskedPaths:   maskedPaths(),
			ReadonlyPaths: readonlyPaths(),
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
		},
	}
	switch {
	case opts.NetnsPath != "":
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: opts.NetnsPath})
	case !opts.Network.Host():
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	applyResources(s, opts.Resources)
	for _, f := range []struct{ src, dst string }{
		{opts.HostsPath, "/etc/hosts"},
		{opts.HostnamePath, "/etc/hostname"},
		{opts.ResolvConfPath, "/etc/resolv.conf"},
	} {
		if f.src != "" {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: []string{"rbind", "rprivate"}})
		}
	}
	s.Mounts = append(s.Mounts, opts.Mounts...)
	if err := opts.Security.apply(s, opts.Rootfs, opts.NoNewPrivileges); err != nil {
		return nil, err
	}
	opts.Namespaces.apply(s)
	if opts.Init {
		if opts.InitPath == "" {
			return nil, fmt.Errorf("--init: no init binary given: %w", errdefs.ErrInvalidArgument)
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: InitTarget, Type: "bind", Source: opts.InitPath, Options: []string{"bind", "ro", "rprivate"}})
		initArgs := opts.InitArgs
		if len(initArgs) == 0 {
			initArgs = []string{InitTarget}
		}
		s.Process.Args = append(append(append([]string{}, initArgs...), "--"), args...)
	}
	return s, nil
}

// processArgs joins entrypoint and cmd as docker does.
func processArgs(opts SpecOptions) ([]string, error) {
	entrypoint, cmd := opts.Config.Entrypoint, opts.Config.Cmd
	if opts.Entrypoint != nil {
		entrypoint, cmd = opts.Entrypoint, nil
	}
	if len(opts.Args) > 0 {
		cmd = opts.Args
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified (the image has no Entrypoint or Cmd): %w", errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// defaultMounts are docker's: /proc, a tmpfs /dev with pts, shm and mqueue,
// and a read-only /sys. runc creates the standard device nodes (null,
// zero, full, random, urandom, tty) and /dev/ptmx, /dev/fd… links itself.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
}

// nofile is RLIMIT_NOFILE 1048576, capped at this process's hard limit
// (runc cannot raise it past that without CAP_SYS_RESOURCE in the host).
func nofile() specs.POSIXRlimit {
	n := uint64(1048576)
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Max < n {
		n = rl.Max
	}
	return specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: n, Soft: n}
}

func maskedPaths() []string {
	return []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

func readonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
