package container

import (
	"context"
	"fmt"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// checkRestartPolicy is create's and update's check of --restart: a valid
// policy, and none with --rm (docker refuses the pair: the container
// would be removed at the exit its policy restarts).
func checkRestartPolicy(p runtime.RestartPolicy, autoRemove bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if autoRemove && !p.IsNone() {
		return fmt.Errorf("conflicting options: cannot specify both --restart and --rm: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// SetRestartPolicy changes a container's restart policy (update
// --restart): recorded, and handed to a running container's monitor for
// its next exit.
func (s *Store) SetRestartPolicy(ctx context.Context, ref string, p runtime.RestartPolicy) error {
	c, err := s.Get(ref)
	if err != nil {
		return err
	}
	if c.Options.AutoRemove && !p.IsNone() {
		return fmt.Errorf("update %s: restart policy cannot be updated because AutoRemove is enabled for the container: %w", c.Name, errdefs.ErrInvalidArgument)
	}
	if err := checkRestartPolicy(p, false); err != nil {
		return err
	}
	c.Options.RestartPolicy = p
	if err := s.save(c); err != nil {
		return err
	}
	if err := runtime.SetRestartPolicy(s.dir(c.ID), p); err != nil {
		return fmt.Errorf("update %s: %w", c.Name, err)
	}
	return nil
}
