package runtime

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/network"
	"github.com/strata-project/strata/internal/proc"
)

// Files the monitor keeps in a container's directory.
const (
	MonitorConfigFile = "monitor.json" // MonitorConfig, written by StartMonitor
	StatusFile        = "state.json"   // Status, written by the monitor
	AttachSocket      = "attach.sock"  // the attach socket while the monitor runs
	MonitorLogFile    = "monitor.log"  // the monitor's own stderr
	runcLogFile       = "runc.log"
	pidFile           = "init.pid"
	consoleSocketFile = "console.sock"
)

// MonitorConfig tells a container's monitor what to run.
type MonitorConfig struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"` // holds config.json
	Runc   Runc   `json:"runc"`
	// LogPath is the json-file log (appended to), kept as Log says
	// (logdriver.go: rotated by size, or not at all).
	LogPath string    `json:"logPath"`
	Log     LogConfig `json:"log,omitempty"`
	Tty     bool      `json:"tty"`
	// OpenStdin gives the process a stdin pipe fed by attach clients (-i).
	OpenStdin bool `json:"openStdin"`
	// Attach holds the process back until a client attaches (attached
	// run), so none of its output is missed.
	Attach bool `json:"attach"`
	// Ports are published by the monitor's proxy.
	Ports []PortMapping `json:"ports,omitempty"`
	// HostNetwork dials published ports in the host's namespace.
	HostNetwork bool `json:"hostNetwork,omitempty"`
	// Rootfs, when set, is unmounted after the container exits.
	Rootfs string `json:"rootfs,omitempty"`
	// NetworkRoot, when set, is package network's state directory: the
	// container's sandbox there is released once it exits (its address,
	// veth and namespace, and the network itself if it was the last), as
	// docker releases a stopped container's endpoint.
	NetworkRoot string `json:"networkRoot,omitempty"`
	// CleanupArgs, when set, is run after the exit is recorded (e.g.
	// strata rm -f ID for run --rm -d). An in-process monitor leaves it
	// to its standby (StartLocalMonitor).
	CleanupArgs []string `json:"cleanupArgs,omitempty"`
	// NoSync skips the fsync of the exit status: the container is removed
	// when it exits (--rm), so the status need not outlive a crash.
	NoSync bool `json:"noSync,omitempty"`
	// OOMWatch is the container's cgroupsPath, to watch for the OOMs its
	// memory limit causes (oom.go); "" when it has none.
	OOMWatch string `json:"oomWatch,omitempty"`
	// Healthcheck, when enabled, is probed while the container runs
	// (health.go).
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	// Restart is the container's restart policy: after an exit the
	// monitor starts the container again in place (restart.go), the
	// rootfs still mounted, the network sandbox kept, the log appended.
	// The monitor reads it back from this file at every exit, so that
	// update --restart reaches a running container.
	Restart RestartPolicy `json:"restart,omitempty"`
	// Events is the event journal's directory (package events), where
	// the monitor records the container's die, oom and a restart's start,
	// with EventAttrs (its image, name and labels); "" records nothing.
	Events     string            `json:"events,omitempty"`
	EventAttrs map[string]string `json:"eventAttrs,omitempty"`
}

// startReport is what the monitor tells StartMonitor once the container is
// created (or could not be), on fd 3.
type startReport struct {
	Pid      int           `json:"pid,omitempty"`
	Ports    []PortMapping `json:"ports,omitempty"`
	Error    string        `json:"error,omitempty"`
	ExitCode int           `json:"exitCode,omitempty"`
}

// StartMonitor writes cfg into dir and starts the monitor as
// exe[0] exe[1:]... dir (the strata binary's hidden monitor command, which
// calls MonitorMain(dir)) in a session of its own, so it outlives the
// caller. It returns once the container is created, with its pid and
// published ports, or a *StartError. Without cfg.Attach the process is
// already started; with it, Attach starts it.
func StartMonitor(ctx context.Context, dir string, exe []string, cfg MonitorConfig) (*Status, error) {
	if len(exe) == 0 {
		return nil, errors.New("start monitor: no executable")
	}
	if _, err := cfg.Runc.path(); err != nil {
		return nil, err
	}
	// Written again at every start: not worth an fsync.
	if err := WriteFileAtomicNoSync(filepath.Join(dir, MonitorConfigFile), cfg); err != nil {
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, MonitorLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe[0], append(append([]string{}, exe[1:]...), dir)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	w.Close()
	// Reap the monitor if it ends while this process still runs; the
	// goroutine ends when it does.
	go func() { _ = cmd.Wait() }()

	type result struct {
		rep startReport
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var rep startReport
		line, err := bufio.NewReader(r).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &rep)
		}
		ch <- result{rep, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("start %s: %w", cfg.ID, ctx.Err())
	}
	if res.err != nil {
		msg, _ := os.ReadFile(filepath.Join(dir, MonitorLogFile))
		return nil, &StartError{ExitCode: 125, Msg: fmt.Sprintf("start %s: monitor exited without a report: %s", cfg.ID, strings.TrimSpace(lastLine(string(msg))))}
	}
	if res.rep.Error != "" {
		return nil, &StartError{ExitCode: res.rep.ExitCode, Msg: res.rep.Error}
	}
	return &Status{MonitorPid: cmd.Process.Pid, Pid: res.rep.Pid, Running: true, Ports: res.rep.Ports}, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// MonitorMain is the body of the per-container monitor (the hidden
// "strata container-monitor DIR" command): it creates the container with
// runc, reports to StartMonitor on fd 3, starts it, publishes its ports,
// writes its output to the json-file log and to attached clients, reaps
// it, records its exit status, deletes it from runc, unmounts its rootfs
// and runs the cleanup command. It returns when all that is done.
func MonitorMain(dir string) error {
	var cfg MonitorConfig
	b, err := os.ReadFile(filepath.Join(dir, MonitorConfigFile))
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	// Unix socket paths are short; work relative to the container's dir.
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	Tracef("monitor: begin")
	report := os.NewFile(3, "report")
	m := &monitor{dir: dir, cfg: cfg, report: func(rep startReport) {
		b, _ := json.Marshal(rep)
		_, _ = report.Write(append(b, '\n'))
		report.Close()
	}}
	// Terminal and pipe signals are not for the monitor: it outlives both.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	return m.run()
}

type monitor struct {
	dir string
	cfg MonitorConfig
	// report tells the starter how the start went, once; nil after.
	report func(startReport)
	// local, in a monitor running inside its client's process, is the
	// monitor's end of that client's connection: there is no attach
	// socket.
	local *net.UnixConn
	// standbyCleanup, in a monitor running inside its client's process,
	// is the CleanupArgs its standby runs if it takes over (the client
	// removes a --rm container itself).
	standbyCleanup []string
	// oom watches the container's memory cgroup (OOMWatch).
	oom *oomWatch
	// restarts counts the restarts of the policy (cfg.Restart); again
	// says the run that just ended is to be followed by another, after
	// restartDelay; wake is MarkStopped's nudge during that delay.
	restarts     restarter
	again        bool
	restartDelay time.Duration
	wake         chan os.Signal
}

func (m *monitor) sendReport(rep startReport) {
	if m.report == nil {
		return
	}
	m.report(rep)
	m.report = nil
}

// path is name in the container's directory.
func (m *monitor) path(name string) string { return filepath.Join(m.dir, name) }

// fail records a failure to start, reports it and cleans up. The status
// goes first: it names this monitor, so a "strata rm" run the moment the
// error is reported waits for the cleanup instead of racing it (it used to
// find no status, not wait, and fail on a file the monitor wrote next).
func (m *monitor) fail(code int, err error) error {
	_ = writeStatus(m.dir, &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), ExitCode: code, FinishedAt: time.Now().UTC(), Error: err.Error(), StartFailed: true})
	m.sendReport(startReport{Error: err.Error(), ExitCode: code})
	m.cleanup()
	return err
}

// cleanup releases what the run held and runs the cleanup command.
func (m *monitor) cleanup() {
	m.release()
	m.runCleanupArgs()
}

// release deletes the container from runc, unmounts its rootfs, removes
// the monitor's sockets and releases its network sandbox.
func (m *monitor) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = m.cfg.Runc.Delete(ctx, m.cfg.ID, true)
	Tracef("monitor: runc deleted")
	if m.cfg.Rootfs != "" {
		_ = mount.UnmountAll(m.cfg.Rootfs, 0)
	}
	if m.local == nil {
		_ = os.Remove(m.path(AttachSocket))
	}
	_ = os.Remove(m.path(consoleSocketFile))
	if m.cfg.NetworkRoot != "" {
		if nm, err := network.Open(m.cfg.NetworkRoot, network.Options{}); err == nil {
			_ = nm.Detach(m.cfg.ID)
		}
		Tracef("monitor: network released")
	}
}

// runCleanupArgs runs cfg.CleanupArgs (the rm of a --rm container).
func (m *monitor) runCleanupArgs() {
	if len(m.cfg.CleanupArgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.cfg.CleanupArgs[0], m.cfg.CleanupArgs[1:]...)
	_ = cmd.Run()
}

// run sets up what every container has (the subreaper, the log, the
// published ports, the attach socket, the OOM watch) and runs it with a
// terminal (tty.go) or without (foreground.go).
func (m *monitor) run() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return m.fail(125, fmt.Errorf("monitor: become subreaper: %w", err))
	}
	logf, err := openLog(m.cfg.LogPath, m.cfg.Log)
	if err != nil {
		return m.fail(125, fmt.Errorf("open log: %w", err))
	}
	defer logf.Close()
	lw := &logWriter{w: logf, now: time.Now}

	hub := newAttachHub()
	if m.local != nil {
		hub.add(m.local)
	} else {
		_ = os.Remove(AttachSocket)
		aln, err := net.ListenUnix("unix", &net.UnixAddr{Name: AttachSocket, Net: "unix"})
		if err != nil {
			return m.fail(125, fmt.Errorf("attach socket: %w", err))
		}
		defer aln.Close()
		go hub.serve(aln)
	}
	outLine := &lineWriter{log: lw, stream: "stdout"}
	errLine := &lineWriter{log: lw, stream: "stderr"}
	if m.local == nil {
		m.wake = make(chan os.Signal, 1)
		signal.Notify(m.wake, restartWakeSignal)
	}
	// One pass per run of the container: more than one only when its
	// restart policy starts it again (finish decides; restart.go).
	ports := m.cfg.Ports
	for {
		proxies, bound, err := listenPorts(ports)
		if err != nil {
			return m.fail(125, err)
		}
		ports = bound // a restart publishes the same host ports
		m.oom = watchOOM(m.cfg.OOMWatch)
		stopHealth := m.startHealth()
		if m.cfg.Tty {
			err = m.runTTY(hub, proxies, bound, outLine, errLine)
		} else {
			err = m.runForeground(hub, proxies, bound, outLine, errLine)
		}
		stopHealth()
		m.oom.Stop()
		for _, p := range proxies {
			p.close()
		}
		if err != nil || !m.again {
			return err
		}
		if !m.waitRestart(m.restartDelay) {
			m.endRestarts()
			return nil
		}
		m.again = false
		m.event("start", nil)
		// A restart is not held back for a client: its output goes to
		// the log and to whoever attaches.
		m.cfg.Attach = false
		hub.reset()
	}
}

func exitFrame(code int) []byte {
	p := make([]byte, 4)
	binary.BigEndian.PutUint32(p, uint32(int32(code)))
	return p
}

// waitPid reaps children until pid has exited and returns its status as a
// shell reports it (128+signal when killed). The monitor is a subreaper,
// so the container's init, orphaned when runc create exited, is its child.
func waitPid(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not our child (should not happen): poll until it is gone.
			for unix.Kill(pid, 0) == nil {
				time.Sleep(100 * time.Millisecond)
			}
			return 255
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// finish records the container's exit (without an fsync for a --rm
// container: a crash cannot hurt it), tells attached clients, closes the
// published ports and unmounts.
func (m *monitor) finish(st *Status, code int, hub *attachHub, proxies []*proxy) {
	st.Running, st.ExitCode, st.FinishedAt = false, code, time.Now().UTC()
	if m.oom != nil {
		st.OOMKilled = m.oom.Killed()
	}
	if m.local == nil {
		m.restartDelay, m.again = m.restarts.next(m.restartPolicy(), code, StoppedByUser(m.dir), st.FinishedAt.Sub(st.StartedAt))
		st.Restarting, st.RestartCount = m.again, m.restarts.count
	}
	if st.OOMKilled {
		m.event("oom", nil)
	}
	m.event("die", map[string]string{"exitCode": strconv.Itoa(code)})
	write := writeStatus
	if m.cfg.NoSync {
		write = writeStatusNoSync
	}
	if err := write(m.dir, st); err != nil {
		fmt.Fprintf(os.Stderr, "monitor: write status: %v\n", err)
	}
	hub.send(frameExit, exitFrame(code))
	hub.closeAll()
	for _, p := range proxies {
		p.close()
	}
	if m.again {
		// Keep the rootfs mounted and the network sandbox for the next
		// run; only runc's record of this one goes.
		_ = m.cfg.Runc.Delete(context.Background(), m.cfg.ID, true)
		Tracef("monitor: restart in %v", m.restartDelay)
		return
	}
	m.cleanup()
	Tracef("monitor: cleaned up")
}

// endRestarts is the end of a monitor whose user stopped the container
// while it waited to restart it: the status says exited, and what the
// last run left is cleaned up.
func (m *monitor) endRestarts() {
	if st, err := ReadStatus(m.dir); err == nil {
		st.Restarting = false
		_ = writeStatus(m.dir, st)
	}
	m.cleanup()
}

// startFailed records a process that could not start: the caller learns of
// it from the report (detached) or from the exit frame and the status
// (attached).
func (m *monitor) startFailed(hub *attachHub, code int, err error) error {
	if m.report == nil {
		// Attached: the report went out; write the status first so the
		// client reads the failure after the exit frame.
		_ = writeStatus(m.dir, &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), ExitCode: code, FinishedAt: time.Now().UTC(), Error: err.Error(), StartFailed: true})
		hub.send(frameExit, exitFrame(code))
		hub.closeAll()
	}
	return m.fail(code, err)
}

var selfStartTime uint64

// selfStart is this process's start time, as proc.Start gives it.
func selfStart() uint64 {
	if selfStartTime == 0 {
		selfStartTime, _, _ = proc.Start(os.Getpid())
	}
	return selfStartTime
}

// event records action on the container in the event journal
// (cfg.Events), with its attributes and extra.
func (m *monitor) event(action events.Action, extra map[string]string) {
	if m.cfg.Events == "" {
		return
	}
	attrs := maps.Clone(m.cfg.EventAttrs)
	if attrs == nil {
		attrs = map[string]string{}
	}
	maps.Copy(attrs, extra)
	events.Open(m.cfg.Events).Log(events.ContainerType, action, m.cfg.ID, attrs)
}
