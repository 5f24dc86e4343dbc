package runtime

import (
	"sort"
	"strings"

	units "github.com/docker/go-units"
)

// Docker's HostConfig shapes of a container's security options and
// resource limits, as inspect shows them and the Engine API receives
// them: the record keeps the flags as given (Security, Resources), these
// are their views with docker's field names and defaults.

// SecurityHostConfig is the part of inspect's HostConfig that the
// security options fill, with docker's field names.
type SecurityHostConfig struct {
	CapAdd      []string          `json:"CapAdd"`
	CapDrop     []string          `json:"CapDrop"`
	Privileged  bool              `json:"Privileged"`
	Devices     []DeviceMapping   `json:"Devices"`
	GroupAdd    []string          `json:"GroupAdd"`
	SecurityOpt []string          `json:"SecurityOpt"`
	Tmpfs       map[string]string `json:"Tmpfs,omitempty"`
	Sysctls     map[string]string `json:"Sysctls,omitempty"`
}

// HostConfig shows s as docker's inspect does: capabilities as given,
// devices split, tmpfs options by path.
func (s Security) HostConfig(seccompUnconfined bool) SecurityHostConfig {
	h := SecurityHostConfig{
		CapAdd: s.CapAdd, CapDrop: s.CapDrop, Privileged: s.Privileged,
		Devices: []DeviceMapping{}, GroupAdd: s.GroupAdd, SecurityOpt: s.SecurityOpt,
		Sysctls: s.Sysctls,
	}
	if seccompUnconfined {
		h.SecurityOpt = append(append([]string{}, h.SecurityOpt...), "seccomp=unconfined")
	}
	for _, d := range s.Devices {
		if m, err := ParseDevice(d); err == nil {
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
// receives it), for create to check. Devices become
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

// HostConfigResources are inspect's HostConfig resource fields, with
// docker's names, units and defaults (PidsLimit and Ulimits null when
// unset, ShmSize 64 MiB).
type HostConfigResources struct {
	Memory            int64           `json:"Memory"`
	MemorySwap        int64           `json:"MemorySwap"`
	MemoryReservation int64           `json:"MemoryReservation"`
	NanoCPUs          int64           `json:"NanoCpus"`
	CPUShares         int64           `json:"CpuShares"`
	CpusetCpus        string          `json:"CpusetCpus"`
	PidsLimit         *int64          `json:"PidsLimit"`
	Ulimits           []*units.Ulimit `json:"Ulimits"`
	ShmSize           int64           `json:"ShmSize"`
	OomKillDisable    bool            `json:"OomKillDisable"`
}

// HostConfig shows r as docker's inspect does.
func (r Resources) HostConfig() HostConfigResources {
	h := HostConfigResources{
		Memory: r.Memory, MemorySwap: r.MemorySwap, MemoryReservation: r.MemoryReservation,
		NanoCPUs: r.NanoCPUs, CPUShares: r.CPUShares, CpusetCpus: r.CpusetCpus,
		Ulimits: r.Ulimits, ShmSize: r.ShmSize, OomKillDisable: r.OomKillDisable,
	}
	if r.PidsLimit > 0 {
		h.PidsLimit = &r.PidsLimit
	}
	if h.ShmSize == 0 {
		h.ShmSize = DefaultShmSize
	}
	return h
}
