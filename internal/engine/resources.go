package engine

import (
	"context"

	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/runtime"
)

// Resources are a container's resource limits (--memory, --cpus,
// --pids-limit, --ulimit…) in docker's units; see runtime.Resources.
type Resources = runtime.Resources

// RlimitNames are the names --ulimit accepts.
func RlimitNames() []string { return runtime.RlimitNames() }

// UpdateContainer changes a container's resource limits (strata update):
// edit changes the current ones; the result is checked as at create and,
// while the container runs, applied to its cgroup. On error nothing
// changes.
func (e *Engine) UpdateContainer(ctx context.Context, ref string, edit func(*Resources) error) error {
	return e.withStore(func(s *container.Store) error {
		_, err := s.Update(ctx, ref, edit)
		return err
	})
}

// ContainerStats is one sample of a container's usage.
type ContainerStats = container.StatsSample

// ContainerStats samples the named containers, or every running one when
// refs is empty (every one with all); see container.Store.Sample.
func (e *Engine) ContainerStats(ctx context.Context, refs []string, all bool) ([]ContainerStats, error) {
	return call(e.Containers, func(s *container.Store) ([]ContainerStats, error) { return s.Sample(ctx, refs, all) })
}
