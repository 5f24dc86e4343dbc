package container

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// cgroupsPath is a container's cgroup, under each v1 hierarchy or the v2
// root: runc makes it at start and removes it at delete.
func cgroupsPath(id string) string { return "/strata/" + id }

// Update changes a container's resource limits (strata update): edit gets
// the current ones and changes what the user gave; the result is checked
// as at create, recorded, and, while the container runs, applied to its
// cgroup (runc update). On error nothing is changed.
func (s *Store) Update(ctx context.Context, ref string, edit func(*runtime.Resources) error) (*Container, error) {
	c, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	r := c.Options.Resources
	r.Ulimits = append(r.Ulimits[:0:0], r.Ulimits...)
	oldSwap := r.MemorySwap
	if err := edit(&r); err != nil {
		return nil, err
	}
	if r.Memory > 0 && r.MemorySwap == oldSwap && oldSwap > 0 && r.Memory > oldSwap {
		return nil, fmt.Errorf("--memory %d: above the container's --memory-swap (%d): give --memory-swap as well: %w", r.Memory, oldSwap, errdefs.ErrInvalidArgument)
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if st, err := s.Status(ctx, c.ID); err == nil && st.Running {
		if err := s.runc.Update(ctx, c.ID, r.UpdateResources()); err != nil {
			return nil, fmt.Errorf("update %s: %w", c.Name, err)
		}
	}
	c.Options.Resources = r
	if err := s.save(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Stats samples a running container's usage (strata stats).
func (s *Store) Stats(ctx context.Context, ref string) (*Container, runtime.Stats, error) {
	c, st, err := s.running(ctx, ref)
	if err != nil {
		return nil, runtime.Stats{}, err
	}
	stats, err := runtime.ReadStats(cgroupsPath(c.ID), st.Pid)
	if err != nil {
		return nil, stats, fmt.Errorf("stats %s: %w", c.Name, err)
	}
	return c, stats, nil
}
