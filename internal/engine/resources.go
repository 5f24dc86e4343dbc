package engine

import (
	"context"
	"errors"

	units "github.com/docker/go-units"

	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
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

// UpdateContainer changes a container's resource limits (strata update):
// edit changes the current ones; the result is checked as at create and,
// while the container runs, applied to its cgroup. On error nothing
// changes.
func (e *Engine) UpdateContainer(ctx context.Context, ref string, edit func(*Resources) error) error {
	s, err := e.Containers()
	if err != nil {
		return err
	}
	_, err = s.Update(ctx, ref, edit)
	return err
}

// ContainerStats is one sample of a running container's usage.
type ContainerStats struct {
	// Ref is the container as the caller named it (its ID when listing).
	Ref, ID, Name string
	runtime.Stats
}

// ContainerStats samples the named containers, or every running one when
// refs is empty (every one with all). A container that is not running
// has a row of zeros, as in docker.
func (e *Engine) ContainerStats(ctx context.Context, refs []string, all bool) ([]ContainerStats, error) {
	s, err := e.Containers()
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		list, err := s.List(ctx, container.ListOptions{All: all})
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			refs = append(refs, r.ID)
		}
	}
	out := make([]ContainerStats, 0, len(refs))
	var errs []error
	for _, ref := range refs {
		c, st, err := s.Stats(ctx, ref)
		if errdefs.IsConflict(err) { // not running
			c, err = s.Get(ref)
			st = runtime.Stats{}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ContainerStats{Ref: ref, ID: c.ID, Name: c.Name, Stats: st})
	}
	return out, errors.Join(errs...)
}
