package engine

import (
	units "github.com/docker/go-units"

	"github.com/strata-project/strata/internal/runtime"
)

// Resources are a container's resource limits (--memory, --cpus,
// --pids-limit, --ulimit…) in docker's units; see runtime.Resources.
type Resources = runtime.Resources

// RlimitNames are the names --ulimit accepts.
func RlimitNames() []string { return runtime.RlimitNames() }

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

func hostConfigResources(r Resources) HostConfigResources {
	h := HostConfigResources{
		Memory: r.Memory, MemorySwap: r.MemorySwap, MemoryReservation: r.MemoryReservation,
		NanoCPUs: r.NanoCPUs, CPUShares: r.CPUShares, CpusetCpus: r.CpusetCpus,
		Ulimits: r.Ulimits, ShmSize: r.ShmSize, OomKillDisable: r.OomKillDisable,
	}
	if r.PidsLimit > 0 {
		h.PidsLimit = &r.PidsLimit
	}
	if h.ShmSize == 0 {
		h.ShmSize = runtime.DefaultShmSize
	}
	return h
}
