package runtime

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// capabilityNames are the kernel's capabilities by number
// (linux/capability.h), as the runtime spec names them.
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities is docker's default capability set.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// allCapabilities is what --privileged and --cap-add ALL give: every
// capability this process may hand on (its own bounding set; runc cannot
// give a container more), in the kernel's order.
func allCapabilities() []string {
	bnd := ownBoundingSet()
	var out []string
	for i, name := range capabilityNames {
		if bnd&(1<<uint(i)) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// ownBoundingSet reads CapBnd from /proc/self/status; every capability
// the kernel knows if that cannot be read.
func ownBoundingSet() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil {
					return n
				}
			}
		}
	}
	return 1<<uint(len(capabilityNames)) - 1
}

// normalizeCapability turns a --cap-add/--cap-drop value into the spec's
// name, as docker does: case-insensitive, with or without the CAP_
// prefix; "ALL" stays "ALL".
func normalizeCapability(v string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(v))
	if c == "ALL" {
		return c, nil
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	if !slices.Contains(capabilityNames, c) {
		return "", fmt.Errorf("%q: unknown capability; want ALL or a capability such as NET_ADMIN or CAP_SYS_TIME (see capabilities(7)): %w", v, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// Capabilities is the set a container gets from docker's defaults and
// the flags, as docker computes it: --privileged gives every capability;
// --cap-add ALL every capability but the dropped; --cap-drop ALL only the
// added; otherwise the defaults less the dropped plus the added.
func Capabilities(privileged bool, add, drop []string) ([]string, error) {
	if privileged {
		return allCapabilities(), nil
	}
	norm := func(flag string, vs []string) ([]string, error) {
		var out []string
		for _, v := range vs {
			c, err := normalizeCapability(v)
			if err != nil {
				return nil, fmt.Errorf("%s %w", flag, err)
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	adds, err := norm("--cap-add", add)
	if err != nil {
		return nil, err
	}
	drops, err := norm("--cap-drop", drop)
	if err != nil {
		return nil, err
	}
	var out []string
	switch {
	case slices.Contains(adds, "ALL"):
		for _, c := range allCapabilities() {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
		return out, nil
	case slices.Contains(drops, "ALL"):
		return adds, nil
	}
	for _, c := range DefaultCapabilities() {
		if !slices.Contains(drops, c) {
			out = append(out, c)
		}
	}
	for _, c := range adds {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
