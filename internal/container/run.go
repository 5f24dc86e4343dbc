package container

import (
	"context"
	"errors"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// RunOptions are the attach side of Run and StartAttached.
type RunOptions struct {
	// Detach returns once the container is started (run -d).
	Detach bool
	// Attach are the streams of an attached run.
	Attach runtime.AttachOptions
	// Started, if set, is called with the container once its process is
	// started (the CLI proxies signals to it).
	Started func(c *Container)
}

// Run is docker run, the one copy of its sequence: create → start →
// attach and wait (unless detached) → remove (with AutoRemove). It returns
// the container and docker run's exit code: the container's status, 125
// for Strata's own failure, 126/127 for a command that cannot run or is
// missing. A run that fails at any step leaves nothing behind (unlike
// docker's, which keeps a created container): see finish. Cancelling ctx
// while attached detaches; the container runs on, unless AutoRemove, as
// there is then no one left to remove it.
func (s *Store) Run(ctx context.Context, opts CreateOptions, ro RunOptions) (*Container, int, error) {
	runtime.Tracef("run: begin")
	c, err := s.Create(ctx, opts)
	if err != nil {
		return nil, 125, err
	}
	runtime.Tracef("run: created")
	code, err := s.run(ctx, c, true, ro)
	if err != nil && s.gone(c.ID) {
		return nil, code, err
	}
	return c, code, err
}

// StartAttached is start -a: the run sequence of Run on an existing
// container, from its start on. A start that fails leaves the container
// as it was (created or exited), as docker's does; an AutoRemove one goes.
func (s *Store) StartAttached(ctx context.Context, ref string, ro RunOptions) (int, error) {
	c, err := s.Get(ref)
	if err != nil {
		return 125, err
	}
	ro.Detach = false
	return s.run(ctx, c, false, ro)
}

// run drives c from start to its end. created says this run made c, so
// that the attached run may be its monitor (StartOptions.Here) and a
// failure removes it.
func (s *Store) run(ctx context.Context, c *Container, created bool, ro RunOptions) (int, error) {
	if _, err := s.Start(ctx, c.ID, StartOptions{Attach: !ro.Detach, Here: created && !ro.Detach}); err != nil {
		return ExitCode(err), s.finish(ctx, c, created, err)
	}
	// The run is over (and a --rm container removed): its standby, if
	// one was started, has nothing to look after.
	defer runtime.DismissStandby(s.dir(c.ID))
	if ro.Started != nil {
		ro.Started(c)
	}
	if ro.Detach {
		return 0, nil
	}
	runtime.Tracef("run: started")
	// Attach returns once the monitor has recorded the exit, unmounted
	// and deleted the container from runc.
	code, err := s.Attach(ctx, c.ID, ro.Attach)
	runtime.Tracef("run: exit frame")
	var se *runtime.StartError
	switch {
	case errors.Is(err, runtime.ErrDetached):
		// The detach keys (run -it): the container runs on, with its
		// separate monitor, which removes an AutoRemove one at its exit.
		return 0, err
	case errors.As(err, &se):
		// Held back for the attach, the process could not start.
		return ExitCode(err), s.finish(ctx, c, created, err)
	case err != nil:
		// Interrupted: the container keeps running, as docker's does on a
		// detach; with --rm it goes.
		return 125, s.finish(ctx, c, false, err)
	}
	if err := s.finish(ctx, c, false, nil); err != nil {
		return code, err
	}
	runtime.Tracef("run: removed")
	return code, nil
}

// finish is the one clean-up of a run, whatever its end: a container this
// run created and could not start is removed (nothing half-made stays),
// an AutoRemove one is removed in every case (a separate monitor, run -t
// or start -a, may have removed it already). It returns cause, or the
// removal's error when there is no cause.
func (s *Store) finish(ctx context.Context, c *Container, failedCreated bool, cause error) error {
	if !failedCreated && !c.Options.AutoRemove {
		return cause
	}
	err := s.Remove(context.WithoutCancel(ctx), c.ID, true)
	if cause != nil || errdefs.IsNotFound(err) {
		return cause
	}
	return err
}

// gone reports whether container id has no record any more.
func (s *Store) gone(id string) bool {
	_, err := s.load(id)
	return errdefs.IsNotFound(err)
}
