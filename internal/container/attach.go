package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// AttachRunning is docker attach: it connects the streams to a running
// container through its monitor's attach socket until the container exits
// (its status is returned) or the detach keys are typed
// (runtime.ErrDetached). A container an attached run (strata run without
// -d or -t) is monitoring has no socket: its output goes to that run.
func (s *Store) AttachRunning(ctx context.Context, ref string, o runtime.AttachOptions) (int, error) {
	c, st, err := s.running(ctx, ref)
	if errdefs.IsConflict(err) {
		return -1, fmt.Errorf("You cannot attach to a stopped container, start it first: %w", errdefs.ErrConflict)
	}
	if err != nil {
		return -1, err
	}
	if s.paused(c.ID) {
		return -1, fmt.Errorf("You cannot attach to a paused container, unpause it first: %w", errdefs.ErrConflict)
	}
	if _, err := os.Stat(filepath.Join(s.dir(c.ID), runtime.AttachSocket)); errors.Is(err, os.ErrNotExist) && st.Running {
		return -1, fmt.Errorf("cannot attach to %s: the strata run that started it holds its streams (attach works with run -d or -t): %w", c.Name, errdefs.ErrConflict)
	}
	return s.Attach(ctx, c.ID, o)
}
