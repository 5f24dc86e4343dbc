package engine

import (
	"context"

	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/runtime"
)

// RestartPolicy is --restart (no, always, unless-stopped,
// on-failure[:N]), carried out by the container's monitor.
type RestartPolicy = runtime.RestartPolicy

// ParseRestartPolicy reads --restart as docker does.
func ParseRestartPolicy(s string) (RestartPolicy, error) { return runtime.ParseRestartPolicy(s) }

// SetRestartPolicy is update --restart: the container's policy changes,
// for its next exit if it runs.
func (e *Engine) SetRestartPolicy(ctx context.Context, ref string, p RestartPolicy) error {
	return e.withStore(func(s *container.Store) error { return s.SetRestartPolicy(ctx, ref, p) })
}

// BootResult is one container system boot started, or failed to.
type BootResult = container.BootResult

// Boot is strata system boot: after the host starts, the containers whose
// restart policy says so run again (container.Store.Boot).
func (e *Engine) Boot(ctx context.Context) ([]BootResult, error) {
	return call(e.Containers, func(s *container.Store) ([]BootResult, error) { return s.Boot(ctx) })
}
