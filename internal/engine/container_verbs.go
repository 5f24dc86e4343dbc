package engine

import (
	"context"
	"io"
	"syscall"
	"time"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/filters"
	"github.com/strata-project/strata/internal/runtime"
)

// The container verbs. Each is the container store's own, reached through
// the engine so that every front end (the CLI, the coming Engine API
// server) goes through one door and sees the same containers. The types
// the verbs take and return are the container and runtime packages' own,
// named here so that a front end imports the engine only.

type (
	// Container is a container's record.
	Container = container.Container
	// CreateOptions are create and run's inputs.
	CreateOptions = container.CreateOptions
	// ContainerSummary is one row of ps.
	ContainerSummary = container.Summary
	// ContainerListOptions are ps's -a and -s.
	ContainerListOptions = container.ListOptions
	// ContainerStatus is a container's place in its life: created,
	// running, paused or exited.
	ContainerStatus = container.State
	// ExecOptions are exec's flags.
	ExecOptions = container.ExecOptions
	// LogsOptions are logs' flags.
	LogsOptions = container.LogsOptions
	// StopOptions are stop and restart's --signal and --timeout.
	StopOptions = container.StopOptions
	// Namespaces are run's --ipc, --pid and --uts.
	Namespaces = runtime.Namespaces
	// Healthcheck is docker's HEALTHCHECK config (run's --health-*).
	Healthcheck = runtime.Healthcheck
	// AttachOptions are the streams of an attached run.
	AttachOptions = runtime.AttachOptions
	// IO is the standard streams of an exec.
	IO = runtime.IO
	// Winsize is a terminal's size.
	Winsize = runtime.Winsize
	// Change is one row of diff.
	Change = archive.Change
)

// The container statuses.
const (
	StatusCreated = container.StateCreated
	StatusRunning = container.StateRunning
	StatusPaused  = container.StatePaused
	StatusExited  = container.StateExited
)

// ParseSignal reads a signal as docker does: "SIGTERM", "TERM" or "15".
func ParseSignal(s string) (syscall.Signal, error) { return container.ParseSignal(s) }

// ErrDetached is an attach the detach keys ended: the container runs on.
var ErrDetached = runtime.ErrDetached

// ParseDetachKeys reads --detach-keys (ctrl-p,ctrl-q); "" is docker's
// default, Ctrl-P Ctrl-Q.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return runtime.DefaultDetachKeys, nil
	}
	return runtime.ParseDetachKeys(s)
}

// AttachContainer is attach: the streams of a running container until it
// exits (its status) or the detach keys are typed (ErrDetached).
func (e *Engine) AttachContainer(ctx context.Context, ref string, o AttachOptions) (int, error) {
	s, err := e.Containers()
	if err != nil {
		return -1, err
	}
	return s.AttachRunning(ctx, ref, o)
}

// ParseLabels reads --label-file files, then --label values (KEY=VALUE or
// KEY), into a map.
func ParseLabels(files, flags []string) (map[string]string, error) {
	return container.ParseLabels(files, flags)
}

// ParseLogTime reads logs' --since and --until: RFC 3339 (or a prefix of
// it), Unix seconds, or a duration before now.
func ParseLogTime(v string, now time.Time) (time.Time, error) {
	return filters.ParseTime(v, now)
}

// Container finds a container by full ID, name or unique ID prefix.
func (e *Engine) Container(ref string) (*Container, error) {
	return call(e.Containers, func(s *container.Store) (*Container, error) { return s.Get(ref) })
}

// ListContainers is ps: the running containers (all with opts.All),
// newest first.
func (e *Engine) ListContainers(ctx context.Context, opts ContainerListOptions) ([]ContainerSummary, error) {
	return call(e.Containers, func(s *container.Store) ([]ContainerSummary, error) { return s.List(ctx, opts) })
}

// StartContainer starts a created or exited container, detached.
func (e *Engine) StartContainer(ctx context.Context, ref string) error {
	return e.withStore(func(s *container.Store) error {
		_, err := s.Start(ctx, ref, container.StartOptions{})
		return err
	})
}

// StopContainer sends the stop signal, then SIGKILL after the timeout
// (container.Store.Stop says which).
func (e *Engine) StopContainer(ctx context.Context, ref string, o StopOptions) error {
	return e.withStore(func(s *container.Store) error { return s.Stop(ctx, ref, o) })
}

// RestartContainer stops the container and starts it again, detached.
func (e *Engine) RestartContainer(ctx context.Context, ref string, o StopOptions) error {
	return e.withStore(func(s *container.Store) error { return s.Restart(ctx, ref, o) })
}

// KillContainer sends sig to the container's processes.
func (e *Engine) KillContainer(ctx context.Context, ref string, sig syscall.Signal) error {
	return e.withStore(func(s *container.Store) error { return s.Kill(ctx, ref, sig) })
}

// InterruptContainer passes on a signal the caller got, as a terminal
// would to a foreground process (container.Store.Interrupt).
func (e *Engine) InterruptContainer(ctx context.Context, ref string, sig syscall.Signal) error {
	return e.withStore(func(s *container.Store) error { return s.Interrupt(ctx, ref, sig) })
}

// RenameContainer gives a container a new name (docker rename).
func (e *Engine) RenameContainer(ctx context.Context, ref, newName string) error {
	return e.withStore(func(s *container.Store) error { return s.Rename(ctx, ref, newName) })
}

// TopContainer is docker top: ps's titles and the container's rows.
func (e *Engine) TopContainer(ctx context.Context, ref string, psArgs []string) (titles []string, procs [][]string, err error) {
	err = e.withStore(func(s *container.Store) error {
		titles, procs, err = s.Top(ctx, ref, psArgs)
		return err
	})
	return titles, procs, err
}

// PauseContainer freezes a running container.
func (e *Engine) PauseContainer(ctx context.Context, ref string) error {
	return e.withStore(func(s *container.Store) error { return s.Pause(ctx, ref) })
}

// UnpauseContainer thaws a paused container.
func (e *Engine) UnpauseContainer(ctx context.Context, ref string) error {
	return e.withStore(func(s *container.Store) error { return s.Unpause(ctx, ref) })
}

// RemoveContainer removes a container; a running one only with force.
func (e *Engine) RemoveContainer(ctx context.Context, ref string, force bool) error {
	return e.withStore(func(s *container.Store) error { return s.Remove(ctx, ref, force) })
}

// RemoveContainerVolumes is rm -v: RemoveContainer, and the anonymous
// volumes made for the container that no other container uses.
func (e *Engine) RemoveContainerVolumes(ctx context.Context, ref string, force bool) error {
	return e.withStore(func(s *container.Store) error { return s.RemoveWithVolumes(ctx, ref, force) })
}

// PruneContainers removes every container that is not running or paused
// and passes f (until=, label=, label!=, docker's container prune
// filters), and returns the IDs removed and the bytes their writable
// layers took.
func (e *Engine) PruneContainers(ctx context.Context, f Filters) (ids []string, size int64, err error) {
	err = e.withStore(func(s *container.Store) error {
		ids, size, err = s.Prune(ctx, filters.Filters(f))
		return err
	})
	return ids, size, err
}

// WaitContainer blocks until the container is not running and returns its
// exit status.
func (e *Engine) WaitContainer(ctx context.Context, ref string) (int, error) {
	s, err := e.Containers()
	if err != nil {
		return -1, err
	}
	return s.Wait(ctx, ref)
}

// ExecContainer runs a command in a running container and returns its
// exit status (docker exec's 126/127 when it cannot run).
func (e *Engine) ExecContainer(ctx context.Context, ref string, opts ExecOptions, stdio IO) (int, error) {
	s, err := e.Containers()
	if err != nil {
		return 125, err
	}
	return s.Exec(ctx, ref, opts, stdio)
}

// ContainerLogs writes the container's logs.
func (e *Engine) ContainerLogs(ctx context.Context, ref string, opts LogsOptions, stdout, stderr io.Writer) error {
	return e.withStore(func(s *container.Store) error { return s.Logs(ctx, ref, opts, stdout, stderr) })
}

// ContainerDiff lists what the container changed in its image's files.
func (e *Engine) ContainerDiff(ctx context.Context, ref string) ([]Change, error) {
	return call(e.Containers, func(s *container.Store) ([]Change, error) { return s.Diff(ctx, ref) })
}

// ExportContainer writes the container's filesystem as a tar to w.
func (e *Engine) ExportContainer(ctx context.Context, ref string, w io.Writer) error {
	return e.withStore(func(s *container.Store) error { return s.Export(ctx, ref, w) })
}

// CopyOptions are cp's -L and -a.
type CopyOptions = container.CopyOptions

// CopyFromContainer writes the container's path as a tar stream to w
// (cp CONTAINER:PATH -).
func (e *Engine) CopyFromContainer(ctx context.Context, ref, src string, w io.Writer, o CopyOptions) error {
	return e.withStore(func(s *container.Store) error { return s.CopyFrom(ctx, ref, src, w, o) })
}

// CopyToContainer extracts the tar stream r into the container's
// directory dst (cp - CONTAINER:DIR).
func (e *Engine) CopyToContainer(ctx context.Context, ref, dst string, r io.Reader) error {
	return e.withStore(func(s *container.Store) error { return s.CopyTo(ctx, ref, dst, r) })
}

// CopyOut extracts the container's src into the host's dst: into dst when
// it is a directory, else as dst itself.
func (e *Engine) CopyOut(ctx context.Context, ref, src, dst string, o CopyOptions) error {
	return e.withStore(func(s *container.Store) error { return s.CopyOut(ctx, ref, src, dst, o) })
}

// CopyIn copies the host's src into the container: under its own name
// into dst when dst is a directory there, else as dst.
func (e *Engine) CopyIn(ctx context.Context, src, ref, dst string, o CopyOptions) error {
	return e.withStore(func(s *container.Store) error { return s.CopyIn(ctx, src, ref, dst, o) })
}

// withStore runs fn on the engine's container store.
func (e *Engine) withStore(fn func(s *container.Store) error) error {
	s, err := e.Containers()
	if err != nil {
		return err
	}
	return fn(s)
}

// call returns fn's result on what open gives (the container store, its
// network manager or its volume store), or open's error.
func call[S, T any](open func() (S, error), fn func(S) (T, error)) (T, error) {
	s, err := open()
	if err != nil {
		var zero T
		return zero, err
	}
	return fn(s)
}

// The hidden verbs a container's helper processes run as: this binary
// re-executed by the container store (monitor, standby) or bind-mounted
// into the container (--init).

// StandbyCommand is the hidden verb an attached run's standby runs as.
const StandbyCommand = runtime.StandbyCommand

// MonitorMain is a container's monitor process (container-monitor DIR).
func MonitorMain(dir string) error { return runtime.MonitorMain(dir) }

// StandbyMain is an attached run's standby process.
func StandbyMain(dir, config string) error { return runtime.StandbyMain(dir, config) }

// InitMain is --init's pid 1; it returns only when the command could not
// start.
func InitMain(args []string) error { return runtime.InitMain(args) }

// Tracef writes a timing line when STRATA_TRACE is set (runtime.Tracef).
func Tracef(format string, args ...any) { runtime.Tracef(format, args...) }
