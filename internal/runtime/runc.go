package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

// Runc runs the runc binary with its state under Root (runc --root), as
// <strata-root>/runc. The zero Binary is "runc" looked up in $PATH.
type Runc struct {
	Binary string
	Root   string
}

// State is runc's view of a container (runc state, the documented way to
// read it; runc's own state.json is private to runc).
type State struct {
	ID      string     `json:"id"`
	Pid     int        `json:"pid"`
	Status  RuncStatus `json:"status"`
	Bundle  string     `json:"bundle"`
	Created time.Time  `json:"created"`
}

// RuncStatus is the status runc state reports.
type RuncStatus string

// The statuses of runc state.
const (
	RuncCreating RuncStatus = "creating"
	RuncCreated  RuncStatus = "created"
	RuncRunning  RuncStatus = "running"
	RuncPaused   RuncStatus = "paused"
	RuncStopped  RuncStatus = "stopped"
)

// Live reports whether runc has a process for the container (created,
// running or paused).
func (s RuncStatus) Live() bool {
	return s == RuncCreated || s == RuncRunning || s == RuncPaused
}

// IO is the standard streams handed to a runc process (and through it to
// the container's process when there is no terminal). Nil is /dev/null.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// CreateOptions are the options of Runc.Create.
type CreateOptions struct {
	IO
	PidFile string
	// ConsoleSocket is a unix socket runc sends the pty master to when the
	// spec asks for a terminal (see ReceiveConsole).
	ConsoleSocket string
	// LogFile gets runc's own messages as JSON lines; ExitCodeFor reads it.
	LogFile string
}

// ExecOptions are the options of Runc.Exec.
type ExecOptions struct {
	IO
	// Tty makes runc allocate a terminal and copy it to IO (the process
	// spec must say Terminal too).
	Tty     bool
	Detach  bool
	PidFile string
	LogFile string
}

// ErrRuncMissing says runc is not installed.
var ErrRuncMissing = fmt.Errorf("runc not found in $PATH: install it with \"apt-get install runc\": %w", errdefs.ErrUnavailable)

func (r *Runc) path() (string, error) {
	b := r.Binary
	if b == "" {
		b = "runc"
	}
	p, err := exec.LookPath(b)
	if err != nil {
		if r.Binary != "" && r.Binary != "runc" {
			return "", fmt.Errorf("runc %s: %w: install runc with \"apt-get install runc\"", r.Binary, err)
		}
		return "", ErrRuncMissing
	}
	return p, nil
}

func (r *Runc) command(ctx context.Context, logFile string, args ...string) (*exec.Cmd, error) {
	p, err := r.path()
	if err != nil {
		return nil, err
	}
	global := []string{"--root", r.Root}
	if logFile != "" {
		global = append(global, "--log", logFile, "--log-format", "json")
	}
	cmd := exec.CommandContext(ctx, p, append(global, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// run runs runc with args and returns an error carrying its stderr.
func (r *Runc) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd, err := r.command(ctx, "", args...)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, runcError(args[0], stderr.String(), err)
	}
	return stdout.Bytes(), nil
}

func runcError(verb, stderr string, err error) error {
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		return fmt.Errorf("runc %s: %w", verb, err)
	}
	e := fmt.Errorf("runc %s: %s", verb, msg)
	if strings.Contains(msg, "container does not exist") {
		return fmt.Errorf("%w: %w", e, errdefs.ErrNotFound)
	}
	return e
}

// Create creates container id from the bundle (runc create): its init
// process waits for Start. IO goes to the container's process unless it
// has a terminal.
func (r *Runc) Create(ctx context.Context, id, bundle string, opts CreateOptions) error {
	args := []string{"create", "--bundle", bundle}
	if opts.PidFile != "" {
		args = append(args, "--pid-file", opts.PidFile)
	}
	if opts.ConsoleSocket != "" {
		args = append(args, "--console-socket", opts.ConsoleSocket)
	}
	cmd, err := r.command(ctx, opts.LogFile, append(args, id)...)
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout = opts.Stdin, opts.Stdout
	cmd.Stderr = &stderr
	if opts.Stderr != nil {
		// The container's stderr is an *os.File here (a pipe the monitor
		// reads), so runc hands it on rather than copying through &stderr.
		cmd.Stderr = opts.Stderr
	}
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if opts.LogFile != "" {
			msg = LastRuncError(opts.LogFile)
		}
		return runcError("create", msg, err)
	}
	return nil
}

// runCommand is "runc run" of id in the foreground, not started: it
// creates the container, starts its process, waits for it, deletes the
// container and exits with the process's status (128+signal when
// killed). Without a terminal runc gives the process pipes of its own and
// copies them to and from opts' streams, which must be *os.File to be
// handed on.
func (r *Runc) runCommand(id, bundle string, opts CreateOptions) (*exec.Cmd, error) {
	args := []string{"run", "--bundle", bundle}
	if opts.PidFile != "" {
		args = append(args, "--pid-file", opts.PidFile)
	}
	cmd, err := r.command(context.Background(), opts.LogFile, append(args, id)...)
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	return cmd, nil
}

// Start starts the process of a created container (runc start).
func (r *Runc) Start(ctx context.Context, id string) error {
	_, err := r.run(ctx, "start", id)
	return err
}

// Run runs container id in the foreground (runc run) and returns its exit
// status. With a terminal in the spec runc copies it to IO.
func (r *Runc) Run(ctx context.Context, id, bundle string, o IO) (int, error) {
	cmd, err := r.command(ctx, "", "run", "--bundle", bundle, id)
	if err != nil {
		return -1, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	return exitStatus(cmd.Run())
}

// Exec runs proc in the running container id (runc exec --process) and
// returns its exit status; with Detach it returns once the process started.
func (r *Runc) Exec(ctx context.Context, id string, proc specs.Process, opts ExecOptions) (int, error) {
	f, err := os.CreateTemp("", "strata-exec-*.json")
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer os.Remove(f.Name())
	if err := writeJSON(f, proc); err != nil {
		return -1, fmt.Errorf("exec in %s: write process: %w", id, err)
	}
	args := []string{"exec", "--process", f.Name()}
	if opts.Tty {
		args = append(args, "--tty")
	}
	if opts.Detach {
		args = append(args, "--detach")
	}
	if opts.PidFile != "" {
		args = append(args, "--pid-file", opts.PidFile)
	}
	cmd, err := r.command(ctx, opts.LogFile, append(args, id)...)
	if err != nil {
		return -1, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	code, err := exitStatus(cmd.Run())
	if err != nil {
		return code, fmt.Errorf("runc exec in %s: %w", id, err)
	}
	return code, nil
}

// writeJSON writes v to f and closes it.
func writeJSON(f *os.File, v any) error {
	if err := json.NewEncoder(f).Encode(v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Kill sends sig to the container's init process, or with all to every
// process in it.
func (r *Runc) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	_, err := r.run(ctx, append(args, id, strconv.Itoa(int(sig)))...)
	return err
}

// Delete deletes the container's runc state; force kills it first. A
// container runc does not know is not an error.
func (r *Runc) Delete(ctx context.Context, id string, force bool) error {
	// runc keeps a directory per container under its root; without one
	// there is nothing to delete and no need to run runc (~10 ms).
	if _, err := os.Stat(filepath.Join(r.Root, id)); errors.Is(err, os.ErrNotExist) && r.Root != "" {
		return nil
	}
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(ctx, append(args, id)...)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	return err
}

// State returns runc's state of id; errdefs.ErrNotFound when runc has none.
func (r *Runc) State(ctx context.Context, id string) (*State, error) {
	out, err := r.run(ctx, "state", id)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("runc state %s: %w", id, err)
	}
	return &s, nil
}

// Pids lists the host PIDs of the container's processes (runc ps).
func (r *Runc) Pids(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(ctx, "ps", "--format", "json", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("runc ps %s: %w", id, err)
	}
	return pids, nil
}

// Pause freezes every process of the container.
func (r *Runc) Pause(ctx context.Context, id string) error {
	_, err := r.run(ctx, "pause", id)
	return err
}

// Update changes a running container's cgroup limits (runc update
// --resources -); fields left nil keep their value.
func (r *Runc) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	cmd, err := r.command(ctx, "", "update", "--resources", "-", id)
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = bytes.NewReader(b), &stderr
	if err := cmd.Run(); err != nil {
		return runcError("update", stderr.String(), err)
	}
	return nil
}

// Resume thaws a paused container.
func (r *Runc) Resume(ctx context.Context, id string) error {
	_, err := r.run(ctx, "resume", id)
	return err
}

// exitStatus turns a Wait error into an exit status, as a shell reports it
// (128+signal for a signal).
func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ws.ExitStatus(), nil
		}
	}
	return -1, err
}

// LastRuncError returns the last error-level message in a runc JSON log
// file, or "".
func LastRuncError(logFile string) string {
	f, err := os.Open(logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	return lastRuncErrorIn(f)
}

// lastRuncError is LastRuncError of a log read into b.
func lastRuncError(b []byte) string { return lastRuncErrorIn(bytes.NewReader(b)) }

func lastRuncErrorIn(r io.Reader) string {
	var last string
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		var l struct{ Level, Msg string }
		if json.Unmarshal(s.Bytes(), &l) == nil && (l.Level == "error" || l.Level == "fatal") {
			last = l.Msg
		}
	}
	return last
}

// ExitCodeFor maps a failure to start a container's process to docker
// run's exit codes: 127 when the command is not found, 126 when it cannot
// be executed, else 125 (Strata's own failure).
func ExitCodeFor(err error) int {
	if err == nil {
		return 0
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory") && strings.Contains(msg, "exec"):
		return 127
	case strings.Contains(msg, "permission denied") && strings.Contains(msg, "exec"),
		strings.Contains(msg, "exec format error"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}
