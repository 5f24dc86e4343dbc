package container

import (
	"context"
	"errors"
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

// StatsSample is one sample of a container's usage.
type StatsSample struct {
	// Ref is the container as the caller named it (its ID when listing).
	Ref, ID, Name string
	runtime.Stats
}

// Sample samples the named containers, or every running one when refs is
// empty (every one with all). A container that is not running has a row
// of zeros, as in docker.
func (s *Store) Sample(ctx context.Context, refs []string, all bool) ([]StatsSample, error) {
	if len(refs) == 0 {
		list, err := s.List(ctx, ListOptions{All: all})
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			refs = append(refs, r.ID)
		}
	}
	out := make([]StatsSample, 0, len(refs))
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
		out = append(out, StatsSample{Ref: ref, ID: c.ID, Name: c.Name, Stats: st})
	}
	return out, errors.Join(errs...)
}
