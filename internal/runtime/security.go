package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

// Security are docker's hardening flags of run and create, as a
// container's record keeps them and inspect shows them (HostConfig's
// Privileged, CapAdd, CapDrop, Devices, GroupAdd, Tmpfs, Sysctls,
// SecurityOpt). The zero value is docker's default posture: its 14
// capabilities, its seccomp profile, masked and read-only /proc paths, no
// devices but the standard ones, and no-new-privileges off unless the
// engine's configuration turns it on.
type Security struct {
	// Privileged gives every capability and every host device, and
	// drops seccomp and the masked and read-only paths (/sys and the
	// cgroup mount are writable), as docker's --privileged.
	Privileged bool `json:"privileged,omitempty"`
	// CapAdd and CapDrop are --cap-add and --cap-drop as given: names
	// with or without CAP_, any case, or ALL.
	CapAdd  []string `json:"capAdd,omitempty"`
	CapDrop []string `json:"capDrop,omitempty"`
	// Devices are --device HOST[:CONTAINER[:PERMS]] (PERMS of r, w, m).
	Devices []string `json:"devices,omitempty"`
	// GroupAdd are --group-add groups (names in the image's /etc/group,
	// or numbers) the process joins.
	GroupAdd []string `json:"groupAdd,omitempty"`
	// Tmpfs are --tmpfs PATH[:OPTIONS] mounts.
	Tmpfs []string `json:"tmpfs,omitempty"`
	// Sysctls are --sysctl KEY=VALUE, namespaced keys only.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// SecurityOpt are --security-opt values; Check replaces seccomp=FILE
	// with seccomp=<the profile's compact JSON>, as docker keeps it.
	SecurityOpt []string `json:"securityOpt,omitempty"`
}

// securityOpts is SecurityOpt read.
type securityOpts struct {
	seccomp     string // "", "unconfined", or a profile's JSON
	noNewPrivs  *bool
	systemPaths bool // systempaths=unconfined: no masked or read-only paths
}

// securityOptHelp is what --security-opt accepts, for messages.
const securityOptHelp = "want seccomp=unconfined|FILE, no-new-privileges[=true|false], label=disable, apparmor=unconfined or systempaths=unconfined"

// parseSecurityOpts reads SecurityOpt values, docker's key=value or older
// key:value forms. A seccomp value other than unconfined is a profile's
// JSON when it starts with "{" and a file to read otherwise.
func parseSecurityOpts(vals []string) (securityOpts, error) {
	var o securityOpts
	for _, v := range vals {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			key, val, ok = strings.Cut(v, ":")
		}
		bad := func(why string) error {
			return fmt.Errorf("--security-opt %q: %s: %w", v, why, errdefs.ErrInvalidArgument)
		}
		switch key {
		case "seccomp":
			if !ok || val == "" {
				return o, bad("want seccomp=unconfined or seccomp=FILE (a profile in docker's JSON format)")
			}
			o.seccomp = val
		case "no-new-privileges":
			b := true
			if ok {
				var err error
				if b, err = strconv.ParseBool(val); err != nil {
					return o, bad("want no-new-privileges, no-new-privileges=true or no-new-privileges=false")
				}
			}
			o.noNewPrivs = &b
		case "label":
			if val != "disable" {
				return o, bad("SELinux is not enabled on this host; only label=disable is accepted")
			}
		case "apparmor":
			if val != "unconfined" {
				return o, bad("AppArmor is not available on this host; only apparmor=unconfined is accepted")
			}
		case "systempaths":
			if val != "unconfined" {
				return o, bad("only systempaths=unconfined is accepted")
			}
			o.systemPaths = true
		default:
			return o, bad(securityOptHelp)
		}
	}
	return o, nil
}

// Check checks every value of s as create does, so that a bad one fails
// before anything is made: known capabilities, existing host devices,
// namespaced sysctls (net.* only with a network namespace of the
// container's own: network is not host), tmpfs paths and options,
// security options. It reads a seccomp=FILE profile and keeps its
// compact JSON in place of the file name, so the container does not
// depend on the file.
func (s *Security) Check(network NetworkMode) error {
	if _, err := Capabilities(s.Privileged, s.CapAdd, s.CapDrop); err != nil {
		return err
	}
	for _, d := range s.Devices {
		if _, err := deviceSpecs(d); err != nil {
			return err
		}
	}
	for _, g := range s.GroupAdd {
		if g == "" || strings.ContainsAny(g, ":\n") {
			return fmt.Errorf("--group-add %q: want a group name or number: %w", g, errdefs.ErrInvalidArgument)
		}
	}
	for _, t := range s.Tmpfs {
		if _, err := parseTmpfs(t); err != nil {
			return err
		}
	}
	for k := range s.Sysctls {
		if err := checkSysctl(k, network.Host()); err != nil {
			return err
		}
	}
	for i, v := range s.SecurityOpt {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			key, val, ok = strings.Cut(v, ":")
		}
		if !ok || key != "seccomp" || val == "unconfined" || val == "" {
			continue
		}
		var body []byte
		name := "(given inline)"
		if strings.HasPrefix(val, "{") {
			body = []byte(val)
		} else {
			b, err := os.ReadFile(val)
			if err != nil {
				return fmt.Errorf("--security-opt seccomp=%s: read the profile: %w: %w", val, err, errdefs.ErrInvalidArgument)
			}
			body, name = b, val
		}
		j, err := checkSeccompProfile(name, body)
		if err != nil {
			return err
		}
		s.SecurityOpt[i] = "seccomp=" + j
	}
	_, err := parseSecurityOpts(s.SecurityOpt)
	return err
}

// apply sets s's part of spec sp: capabilities, no-new-privileges
// (nnpDefault unless a security option says), seccomp, devices, groups,
// tmpfs mounts, sysctls, and privileged's relaxations. The process's user
// must be set, and rootfs is read for --group-add names.
func (s Security) apply(sp *specs.Spec, rootfs string, nnpDefault bool) error {
	so, err := parseSecurityOpts(s.SecurityOpt)
	if err != nil {
		return err
	}
	caps, err := Capabilities(s.Privileged, s.CapAdd, s.CapDrop)
	if err != nil {
		return err
	}
	if caps == nil {
		caps = []string{}
	}
	sp.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	sp.Process.NoNewPrivileges = nnpDefault
	if so.noNewPrivs != nil {
		sp.Process.NoNewPrivileges = *so.noNewPrivs
	}
	switch {
	case s.Privileged || so.seccomp == "unconfined":
		sp.Linux.Seccomp = nil
	case so.seccomp != "":
		if sp.Linux.Seccomp, err = loadSeccomp(so.seccomp, sp); err != nil {
			return err
		}
	default:
		if sp.Linux.Seccomp, err = defaultSeccomp(sp); err != nil {
			return err
		}
	}
	if s.Privileged || so.systemPaths {
		sp.Linux.MaskedPaths, sp.Linux.ReadonlyPaths = nil, nil
	}
	if s.Privileged {
		// As docker's: /sys and the cgroup mount writable, every device
		// of the host's /dev, and the device cgroup open.
		for i, m := range sp.Mounts {
			if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
				sp.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
		devs, err := hostDevices("/dev")
		if err != nil {
			return err
		}
		sp.Linux.Devices = append(sp.Linux.Devices, devs...)
		sp.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	for _, d := range s.Devices {
		ds, err := deviceSpecs(d)
		if err != nil {
			return err
		}
		for _, dev := range ds {
			sp.Linux.Devices = append(sp.Linux.Devices, dev.device)
			sp.Linux.Resources.Devices = append(sp.Linux.Resources.Devices, dev.rule)
		}
	}
	for _, g := range s.GroupAdd {
		gid, err := lookupGroup(rootfs, g)
		if err != nil {
			return err
		}
		if !slices.Contains(sp.Process.User.AdditionalGids, gid) {
			sp.Process.User.AdditionalGids = append(sp.Process.User.AdditionalGids, gid)
		}
	}
	for _, t := range s.Tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return err
		}
		sp.Mounts = append(sp.Mounts, m)
	}
	sysctls := map[string]string{}
	if slices.ContainsFunc(sp.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace }) {
		// Docker's defaults in a network namespace of the container's
		// own, where they cannot open anything of the host's: any user
		// may bind ports below 1024 and send ICMP echo without a raw
		// socket.
		sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
		sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
	}
	for k, v := range s.Sysctls {
		sysctls[k] = v
	}
	if len(sysctls) > 0 {
		sp.Linux.Sysctl = sysctls
	}
	return nil
}

// lookupGroup resolves a --group-add value: a number, or a name in the
// rootfs's /etc/group.
func lookupGroup(rootfs, g string) (uint32, error) {
	if n, err := strconv.ParseUint(g, 10, 32); err == nil {
		return uint32(n), nil
	}
	groups, err := readColonFile(rootfs, "/etc/group")
	if err != nil {
		return 0, err
	}
	for _, f := range groups {
		if len(f) >= 3 && f[0] == g {
			if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				return uint32(n), nil
			}
		}
	}
	return 0, fmt.Errorf("--group-add %q: no such group in the image's /etc/group (give a name it lists or a number): %w", g, errdefs.ErrNotFound)
}

// namespacedSysctls are the kernel.* sysctls of the IPC namespace, which
// docker allows; fs.mqueue.* and (with a network namespace of the
// container's own) net.* are allowed as prefixes.
var namespacedSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
	"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// checkSysctl accepts the sysctls docker accepts: those of the
// container's own namespaces, which cannot change the host.
func checkSysctl(key string, hostNetwork bool) error {
	switch {
	case slices.Contains(namespacedSysctls, key), strings.HasPrefix(key, "fs.mqueue.") && len(key) > len("fs.mqueue."):
		return nil
	case strings.HasPrefix(key, "net.") && len(key) > len("net."):
		if hostNetwork {
			return fmt.Errorf("--sysctl %s: net.* sysctls would change the host's network namespace; not allowed with --network host: %w", key, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	return fmt.Errorf("--sysctl %s: not a namespaced sysctl; want net.* (with a network namespace of the container's own), fs.mqueue.*, or one of %s: %w",
		key, strings.Join(namespacedSysctls, ", "), errdefs.ErrInvalidArgument)
}

// ParseSysctl splits a --sysctl KEY=VALUE.
func ParseSysctl(v string) (string, string, error) {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("--sysctl %q: want KEY=VALUE: %w", v, errdefs.ErrInvalidArgument)
	}
	return k, val, nil
}

// tmpfsOptions are the mount options a --tmpfs may give (mount(8) and
// tmpfs(5)); the VALUE ones take KEY=VALUE.
var (
	tmpfsFlags = []string{"rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev",
		"sync", "async", "atime", "noatime", "relatime", "norelatime", "strictatime",
		"nostrictatime", "diratime", "nodiratime", "dirsync", "mand", "nomand"}
	tmpfsValues = []string{"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge"}
)

// parseTmpfs parses --tmpfs PATH[:OPTIONS] into a tmpfs mount with
// docker's defaults, noexec, nosuid and nodev, which exec, suid and dev
// in OPTIONS turn off.
func parseTmpfs(v string) (specs.Mount, error) {
	path, opts, _ := strings.Cut(v, ":")
	if !filepath.IsAbs(path) || filepath.Clean(path) == "/" {
		return specs.Mount{}, fmt.Errorf("--tmpfs %q: the path must be absolute and not /: %w", v, errdefs.ErrInvalidArgument)
	}
	out := []string{"noexec", "nosuid", "nodev"}
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			k, _, hasVal := strings.Cut(o, "=")
			if !(hasVal && slices.Contains(tmpfsValues, k)) && !(!hasVal && slices.Contains(tmpfsFlags, o)) {
				return specs.Mount{}, fmt.Errorf("--tmpfs %q: unknown option %q (want %s, or %s=VALUE): %w",
					v, o, strings.Join(tmpfsFlags, ", "), strings.Join(tmpfsValues, "=, "), errdefs.ErrInvalidArgument)
			}
			if off, ok := map[string]string{"exec": "noexec", "suid": "nosuid", "dev": "nodev"}[o]; ok {
				out = slices.DeleteFunc(out, func(x string) bool { return x == off })
			}
			out = append(out, o)
		}
	}
	return specs.Mount{Destination: filepath.Clean(path), Type: "tmpfs", Source: "tmpfs", Options: out}, nil
}
