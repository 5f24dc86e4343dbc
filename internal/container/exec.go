package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/runtime"
)

// ExecOptions are exec's flags.
type ExecOptions struct {
	Cmd        []string
	Env        []string // KEY=VALUE, over the container's
	WorkingDir string
	User       string // name|uid[:group|gid]; default the container's
	Tty        bool
	Detach     bool
	// ConsoleSize is the terminal's initial size with Tty.
	ConsoleSize *runtime.Winsize
	// Resize carries later window changes with Tty (may be nil).
	Resize <-chan runtime.Winsize
}

// Exec runs a command in a running container with the given streams and
// returns its exit status (126/127 when it cannot run or is missing).
// With Tty, runc makes a terminal and copies it to the streams.
func (s *Store) Exec(ctx context.Context, ref string, opts ExecOptions, stdio runtime.IO) (int, error) {
	c, err := s.Get(ref)
	if err != nil {
		return 125, err
	}
	if len(opts.Cmd) == 0 {
		return 125, fmt.Errorf("exec: no command: %w", errdefs.ErrInvalidArgument)
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil {
		return 125, err
	}
	if !st.Running {
		return 125, fmt.Errorf("container %s is not running: %w", c.Name, errdefs.ErrConflict)
	}
	dir := s.dir(c.ID)
	b, err := os.ReadFile(filepath.Join(dir, "bundle", "config.json"))
	if err != nil {
		return 125, fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return 125, fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	proc := *spec.Process
	proc.Args = opts.Cmd
	proc.Terminal = opts.Tty
	proc.Env = runtime.MergeEnv(proc.Env, opts.Env)
	if opts.Tty {
		proc.Env = runtime.MergeEnv(proc.Env, []string{"TERM=xterm"})
	}
	if opts.WorkingDir != "" {
		proc.Cwd = opts.WorkingDir
	}
	if opts.User != "" {
		u, err := runtime.ResolveUser(s.rootfs(c.ID), opts.User)
		if err != nil {
			return 125, fmt.Errorf("exec in %s: %w", c.Name, err)
		}
		proc.User = u
	}
	logf, err := os.CreateTemp(dir, "exec-*.log")
	if err != nil {
		return 125, fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	logf.Close()
	defer os.Remove(logf.Name())
	execID, err := newID()
	if err != nil {
		return 125, fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	cmdline := strings.Join(opts.Cmd, " ")
	s.event(c, events.Action("exec_create: "+cmdline), map[string]string{"execID": execID})
	s.event(c, events.Action("exec_start: "+cmdline), map[string]string{"execID": execID})
	var code int
	if opts.Tty && !opts.Detach {
		code, err = s.runc.ExecTty(ctx, c.ID, proc, stdio, logf.Name(), opts.ConsoleSize, opts.Resize)
	} else {
		code, err = s.runc.Exec(ctx, c.ID, proc, runtime.ExecOptions{IO: stdio, Tty: opts.Tty, Detach: opts.Detach, LogFile: logf.Name()})
	}
	if err != nil {
		return 125, err
	}
	if !opts.Detach {
		s.event(c, "exec_die", map[string]string{"execID": execID, "exitCode": strconv.Itoa(code)})
	}
	if code != 0 {
		// runc exits 255 when it could not start the process; its log says
		// why.
		if msg := runtime.LastRuncError(logf.Name()); msg != "" {
			return runtime.ExitCodeFor(fmt.Errorf("%s", msg)), &runtime.StartError{ExitCode: runtime.ExitCodeFor(fmt.Errorf("%s", msg)), Msg: msg}
		}
	}
	return code, nil
}
