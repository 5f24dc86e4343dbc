package engine

import (
	"sort"
	"strings"

	"github.com/strata-project/strata/internal/runtime"
)

// Security are a container's hardening options (run and create's
// --privileged, --cap-add, --cap-drop, --device, --group-add, --tmpfs,
// --sysctl, --security-opt); see runtime.Security.
type Security = runtime.Security

// ParseSysctl splits a --sysctl KEY=VALUE.
func ParseSysctl(v string) (key, value string, err error) { return runtime.ParseSysctl(v) }

// SecurityHostConfig is the part of inspect's HostConfig that the
// security options fill, with docker's field names.
type SecurityHostConfig struct {
	CapAdd      []string                `json:"CapAdd"`
	CapDrop     []string                `json:"CapDrop"`
	Privileged  bool                    `json:"Privileged"`
	Devices     []runtime.DeviceMapping `json:"Devices"`
	GroupAdd    []string                `json:"GroupAdd"`
	SecurityOpt []string                `json:"SecurityOpt"`
	Tmpfs       map[string]string       `json:"Tmpfs,omitempty"`
	Sysctls     map[string]string       `json:"Sysctls,omitempty"`
}

// securityHostConfig shows s as docker's inspect does: capabilities as
// given, devices split, tmpfs options by path.
func securityHostConfig(s Security, seccompUnconfined bool) SecurityHostConfig {
	h := SecurityHostConfig{
		CapAdd: s.CapAdd, CapDrop: s.CapDrop, Privileged: s.Privileged,
		Devices: []runtime.DeviceMapping{}, GroupAdd: s.GroupAdd, SecurityOpt: s.SecurityOpt,
		Sysctls: s.Sysctls,
	}
	if seccompUnconfined {
		h.SecurityOpt = append(append([]string{}, h.SecurityOpt...), "seccomp=unconfined")
	}
	for _, d := range s.Devices {
		if m, err := runtime.ParseDevice(d); err == nil {
			h.Devices = append(h.Devices, m)
		}
	}
	for _, t := range s.Tmpfs {
		if h.Tmpfs == nil {
			h.Tmpfs = map[string]string{}
		}
		path, opts, _ := strings.Cut(t, ":")
		h.Tmpfs[path] = opts
	}
	return h
}

// SecurityFromHostConfig is the inverse of inspect's view: the security
// options of a docker HostConfig (as a front end such as the Engine API
// receives it), for CreateContainer to check. Devices become
// HOST:CONTAINER:PERMISSIONS and tmpfs mounts PATH[:OPTIONS], in path
// order.
func SecurityFromHostConfig(h SecurityHostConfig) Security {
	s := Security{
		Privileged: h.Privileged, CapAdd: h.CapAdd, CapDrop: h.CapDrop,
		GroupAdd: h.GroupAdd, Sysctls: h.Sysctls, SecurityOpt: h.SecurityOpt,
	}
	for _, d := range h.Devices {
		ctr, perms := d.PathInContainer, d.CgroupPermissions
		if ctr == "" {
			ctr = d.PathOnHost
		}
		if perms == "" {
			perms = "rwm"
		}
		s.Devices = append(s.Devices, d.PathOnHost+":"+ctr+":"+perms)
	}
	paths := make([]string, 0, len(h.Tmpfs))
	for p := range h.Tmpfs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		t := p
		if o := h.Tmpfs[p]; o != "" {
			t += ":" + o
		}
		s.Tmpfs = append(s.Tmpfs, t)
	}
	return s
}
