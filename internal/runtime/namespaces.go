package runtime

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

// Namespaces are run's --ipc, --pid and --uts: which of those namespaces
// the container shares with the host. The zero value is docker's default,
// a private namespace of each kind.
type Namespaces struct {
	// IPC is "" or private (a namespace of its own), shareable (the same
	// here: no container joins another's), none (its own namespace and no
	// /dev/shm) or host (the host's namespace and /dev/shm).
	IPC string `json:"ipc,omitempty"`
	// PID is "" (private) or host.
	PID string `json:"pid,omitempty"`
	// UTS is "" (private) or host: the host's hostname, which the
	// container cannot change.
	UTS string `json:"uts,omitempty"`
}

// Check refuses a mode runc cannot give here, naming the value and what is
// accepted (docker's container:NAME modes join another container's
// namespace, which Strata does not do).
func (n Namespaces) Check() error {
	for _, f := range []struct {
		flag, v string
		ok      []string
	}{
		{"--ipc", n.IPC, []string{"", "private", "shareable", "none", "host"}},
		{"--pid", n.PID, []string{"", "host"}},
		{"--uts", n.UTS, []string{"", "host"}},
	} {
		if !slices.Contains(f.ok, f.v) {
			return fmt.Errorf("invalid %s value %q: want %s: %w", f.flag, f.v, joinOr(f.ok[1:]), errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func joinOr(s []string) string {
	switch len(s) {
	case 1:
		return s[0]
	case 2:
		return s[0] + " or " + s[1]
	}
	out := ""
	for i, v := range s {
		switch {
		case i == len(s)-1:
			out += " or "
		case i > 0:
			out += ", "
		}
		out += v
	}
	return out
}

// IPCMode is the --ipc mode as docker's inspect names it (HostConfig.IpcMode).
func (n Namespaces) IPCMode() string {
	if n.IPC == "" {
		return "private"
	}
	return n.IPC
}

// apply drops the namespaces shared with the host from s and fixes what
// goes with them: a host UTS namespace has no hostname of the container's
// to set, a host IPC namespace sees the host's /dev/shm, and --ipc none has
// no /dev/shm at all.
func (n Namespaces) apply(s *specs.Spec) {
	drop := func(t specs.LinuxNamespaceType) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == t })
	}
	if n.PID == "host" {
		drop(specs.PIDNamespace)
	}
	if n.UTS == "host" {
		drop(specs.UTSNamespace)
		s.Hostname = ""
	}
	switch n.IPC {
	case "host":
		drop(specs.IPCNamespace)
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				s.Mounts[i] = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
			}
		}
	case "none":
		s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
	}
}
