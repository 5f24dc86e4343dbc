package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/mount"
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
	// LogPath is the json-file log (appended to).
	LogPath string `json:"logPath"`
	Tty     bool   `json:"tty"`
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
}

// Status is a container's process state as its monitor records it, written
// atomically (temp file + rename) into StatusFile.
type Status struct {
	MonitorPid int `json:"monitorPid"`
	// MonitorStart is the monitor's start time (/proc/PID/stat's
	// starttime), so that a reused pid is not taken for it.
	MonitorStart uint64    `json:"monitorStart,omitempty"`
	Pid          int       `json:"pid"`
	Running      bool      `json:"running"`
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt"`
	ExitCode     int       `json:"exitCode"`
	// OOMKilled says the container's cgroup ran out of memory while it
	// ran (oom.go).
	OOMKilled bool          `json:"oomKilled,omitempty"`
	Error     string        `json:"error,omitempty"`
	Ports     []PortMapping `json:"ports,omitempty"`
	// StartFailed says the process never ran: Error says why and
	// ExitCode is docker run's code for it (125, 126 or 127).
	StartFailed bool `json:"startFailed,omitempty"`
	// MonitorLost is set by Probe, never stored: the monitor died, so the
	// status comes from runc and the exit status is unknown (255).
	MonitorLost bool `json:"-"`
	// Settled says a command other than the monitor recorded this exit,
	// the monitor having died: what the monitor would have done after it
	// (remove a --rm container) is left to the commands that read it.
	Settled bool `json:"settled,omitempty"`
}

// StartError is a container process that could not start; ExitCode is
// docker run's code for it (125, 126 or 127).
type StartError struct {
	ExitCode int
	Msg      string
}

func (e *StartError) Error() string { return e.Msg }

// ReadStatus reads the status the monitor recorded in dir;
// errdefs.ErrNotFound if it never ran.
func ReadStatus(dir string) (*Status, error) {
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if errors.Is(err, os.ErrNotExist) || err == nil && len(b) == 0 {
		// Empty: an unsynced status a crash cut short.
		return nil, fmt.Errorf("status of %s: %w", filepath.Base(dir), errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("status of %s: %w", filepath.Base(dir), err)
	}
	return &s, nil
}

// Probe is ReadStatus checked against the processes: when the status says
// running but the monitor is gone (killed), runc is asked. A container
// runc still runs stays Running; one it does not is reported exited with
// status 255 and FinishedAt now. Nothing is written.
func Probe(ctx context.Context, r *Runc, id, dir string) (*Status, error) {
	s, err := ReadStatus(dir)
	if err != nil || !s.Running || MonitorAlive(s, dir) {
		return s, err
	}
	// Read again: the monitor may have finished between the two looks.
	if s2, err := ReadStatus(dir); err == nil && !s2.Running {
		return s2, nil
	}
	s.MonitorLost = true
	st, err := r.State(ctx, id)
	if err == nil && st.Status.Live() {
		return s, nil
	}
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	s.Running = false
	s.ExitCode = 255
	s.FinishedAt = time.Now()
	s.Error = "the container's monitor died: its exit status is unknown"
	return s, nil
}

// MonitorAlive reports whether the monitor that wrote s still runs: its
// pid is alive, not a zombie, and started when s says (or, in a status
// without the start time, has dir on its command line), so that a reused
// pid is not taken for it.
func MonitorAlive(s *Status, dir string) bool {
	pid := s.MonitorPid
	if pid <= 0 {
		return false
	}
	if s.MonitorStart != 0 {
		start, zombie, err := procStart(pid)
		return err == nil && !zombie && start == s.MonitorStart
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie is dead: field 3 after the ")" that ends comm.
		if i := strings.LastIndexByte(string(st), ')'); i >= 0 && len(st) > i+2 && st[i+2] == 'Z' {
			return false
		}
	}
	for _, a := range strings.Split(string(b), "\x00") {
		if a == dir {
			return true
		}
	}
	return false
}

// writeStatus writes s into dir atomically.
func writeStatus(dir string, s *Status) error {
	return WriteFileAtomic(filepath.Join(dir, StatusFile), s)
}

// writeStatusNoSync is writeStatus without the fsync, for a status whose
// loss in a crash costs nothing.
func writeStatusNoSync(dir string, s *Status) error {
	return writeFileAtomic(filepath.Join(dir, StatusFile), s, false)
}

// WriteFileAtomic writes v as JSON to path through a temp file in the same
// dir, fsynced and renamed over path.
func WriteFileAtomic(path string, v any) error { return writeFileAtomic(path, v, true) }

// WriteFileAtomicNoSync is WriteFileAtomic without the fsync: a crash may
// leave the old file or an empty one, never a torn one.
func WriteFileAtomicNoSync(path string, v any) error { return writeFileAtomic(path, v, false) }

func writeFileAtomic(path string, v any, sync bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
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

func (m *monitor) cleanup() {
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
	if len(m.cfg.CleanupArgs) > 0 {
		cmd := exec.CommandContext(ctx, m.cfg.CleanupArgs[0], m.cfg.CleanupArgs[1:]...)
		_ = cmd.Run()
	}
}

func (m *monitor) run() error {
	ctx := context.Background()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return m.fail(125, fmt.Errorf("monitor: become subreaper: %w", err))
	}
	logf, err := os.OpenFile(m.cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return m.fail(125, fmt.Errorf("open log: %w", err))
	}
	defer logf.Close()
	lw := &logWriter{w: logf, now: time.Now}

	proxies, ports, err := listenPorts(m.cfg.Ports)
	if err != nil {
		return m.fail(125, err)
	}
	defer func() {
		for _, p := range proxies {
			p.close()
		}
	}()
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
	copies := make(chan struct{}, 2)
	nCopies := 0
	copyOut := func(r io.ReadCloser, w io.Writer) {
		nCopies++
		// Ends at EOF (every writer closed: the container exited) or EIO
		// (a pty whose slave side is gone).
		go func() {
			_, _ = io.Copy(w, r)
			r.Close()
			copies <- struct{}{}
		}()
	}

	m.oom = watchOOM(m.cfg.OOMWatch)
	defer m.oom.Stop()
	if !m.cfg.Tty {
		return m.runForeground(hub, proxies, ports, outLine, errLine)
	}
	// With a terminal: runc create hands the pty master over the console
	// socket, runc start lets the process go.
	opts := CreateOptions{PidFile: pidFile, LogFile: runcLogFile}
	console, err := newConsoleSocket(consoleSocketFile)
	if err != nil {
		return m.fail(125, err)
	}
	defer console.Close()
	// runc dials the socket after changing into the bundle; a path
	// relative to it stays short where an absolute one may not fit.
	bundle, err := filepath.Abs(m.cfg.Bundle)
	if err != nil {
		return m.fail(125, err)
	}
	rel, err := filepath.Rel(bundle, filepath.Join(m.dir, consoleSocketFile))
	if err != nil {
		return m.fail(125, err)
	}
	opts.ConsoleSocket = rel
	type ptyResult struct {
		f   *os.File
		err error
	}
	ptyc := make(chan ptyResult, 1)
	go func() {
		f, err := console.receive()
		ptyc <- ptyResult{f, err}
	}()
	if err := m.cfg.Runc.Create(ctx, m.cfg.ID, m.cfg.Bundle, opts); err != nil {
		return m.fail(ExitCodeFor(err), err)
	}
	{
		var res ptyResult
		select {
		case res = <-ptyc:
		case <-time.After(10 * time.Second):
			res.err = errors.New("no pty from runc")
		}
		if res.err != nil {
			return m.fail(125, res.err)
		}
		hub.pty, hub.stdin = res.f, res.f
		copyOut(res.f, &streamWriter{hub: hub, typ: frameStdout, line: outLine})
	}
	pb, err := os.ReadFile(pidFile)
	if err != nil {
		return m.fail(125, fmt.Errorf("read pid of %s: %w", m.cfg.ID, err))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pb)))
	if err != nil {
		return m.fail(125, fmt.Errorf("read pid of %s: %w", m.cfg.ID, err))
	}
	var netns *os.File
	if !m.cfg.HostNetwork && len(proxies) > 0 {
		if netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
			return m.fail(125, fmt.Errorf("open network namespace of %s: %w", m.cfg.ID, err))
		}
		defer netns.Close()
	}
	for _, p := range proxies {
		p.netns = netns
		go p.serve()
	}
	// The status says running from here on: the process exists (created)
	// and this monitor answers for it.
	st := &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), Pid: pid, Running: true, StartedAt: time.Now().UTC(), Ports: ports}
	if err := writeStatus(m.dir, st); err != nil {
		_ = m.cfg.Runc.Delete(ctx, m.cfg.ID, true)
		return m.fail(125, fmt.Errorf("write status: %w", err))
	}
	if m.cfg.Attach {
		m.sendReport(startReport{Pid: pid, Ports: ports})
		select {
		case <-hub.first:
		case <-time.After(60 * time.Second):
		}
	}
	if err := m.cfg.Runc.Start(ctx, m.cfg.ID); err != nil {
		return m.startFailed(hub, ExitCodeFor(err), err)
	}
	// Without attach the caller learns of the start only now, so a status
	// read after StartMonitor returns is the started one.
	m.sendReport(startReport{Pid: pid, Ports: ports})

	code := waitPid(pid)

	// The streams end once every process holding them has gone; with the
	// pid namespace's init gone that is at once, but do not hang on a
	// straggler.
	deadline := time.After(2 * time.Second)
	for i := 0; i < nCopies; i++ {
		select {
		case <-copies:
		case <-deadline:
			i = nCopies
		}
	}
	outLine.Flush()
	errLine.Flush()
	m.finish(st, code, hub, proxies)
	return nil
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

// runForeground runs a container without a terminal as one foreground
// "runc run": create, start, wait and delete in a single runc process,
// where create + start + delete cost three. runc hands the container
// pipes of its own and copies them to the monitor's. Attached, the
// process starts once the first client is there, so none of its output
// is missed; a start that fails (a command missing or not executable)
// is then reported through the status and the exit frame.
func (m *monitor) runForeground(hub *attachHub, proxies []*proxy, ports []PortMapping, outLine, errLine *lineWriter) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return m.fail(125, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return m.fail(125, err)
	}
	// runc writes its own failure to its stderr, the container's stream:
	// hold that stream back until the process is known to have started,
	// and drop it if it did not (the failure is reported once, as an
	// error).
	errGate := &gateWriter{w: &streamWriter{hub: hub, typ: frameStderr, line: errLine}}
	copies := make(chan struct{}, 2)
	for _, c := range []struct {
		r *os.File
		w io.Writer
	}{{outR, &streamWriter{hub: hub, typ: frameStdout, line: outLine}}, {errR, errGate}} {
		// Ends at EOF: runc and every process holding the pipe are gone.
		go func(r *os.File, w io.Writer) {
			_, _ = io.Copy(w, r)
			r.Close()
			copies <- struct{}{}
		}(c.r, c.w)
	}
	pidPath, logPath := m.path(pidFile), m.path(runcLogFile)
	opts := CreateOptions{LogFile: logPath}
	// runc writes the pid file once the process has started, with O_SYNC:
	// a journal commit (~1-3 ms) between the start and runc's wait, on the
	// path of every short run. Only a detached start (the caller waits for
	// the pid) or published ports (the proxy enters the container's
	// network namespace) need the pid at once; an attached run learns it
	// from runc's state, and tells a failed start by runc's exit and the
	// error runc logs: runc writes its log (--log, a pipe here: no file,
	// and no O_SYNC, which runc opens it with) and the container cannot,
	// where the container's stderr and runc's own are one pipe. A first
	// stderr line that looks like runc's failure is held back until runc's
	// exit and log tell which it was.
	usePidFile := !m.cfg.Attach || len(proxies) > 0
	var runcLog *bytes.Buffer
	var runcLogDone chan struct{}
	var logW *os.File
	if usePidFile {
		opts.PidFile = pidPath
	} else {
		logR, w, err := os.Pipe()
		if err != nil {
			outW.Close()
			errW.Close()
			return m.fail(125, err)
		}
		logW = w
		runcLog, runcLogDone = &bytes.Buffer{}, make(chan struct{})
		// Ends at EOF: runc has exited (its init's copies of the pipe are
		// closed before the container's command runs).
		go func() {
			defer close(runcLogDone)
			_, _ = io.Copy(runcLog, io.LimitReader(logR, 1<<20))
			logR.Close()
		}()
		// runc's fd 3: ExtraFiles[0] below.
		opts.LogFile = "/proc/self/fd/3"
		errGate.prefix = []byte(runcRunFailed)
	}
	opts.Stdout, opts.Stderr = outW, errW
	closeAfterStart := []*os.File{outW, errW}
	if logW != nil {
		closeAfterStart = append(closeAfterStart, logW)
	}
	if m.cfg.OpenStdin {
		inR, inW, err := os.Pipe()
		if err != nil {
			outW.Close()
			errW.Close()
			return m.fail(125, err)
		}
		opts.Stdin = inR
		closeAfterStart = append(closeAfterStart, inR)
		hub.stdin = inW
	}
	// A pid file or log left by an earlier start would be taken for this
	// one's.
	_ = os.Remove(pidPath)
	_ = os.Remove(logPath)
	st := &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), Running: true, Ports: ports}
	if m.cfg.Attach {
		m.sendReport(startReport{Ports: ports})
		select {
		case <-hub.first:
		case <-time.After(60 * time.Second):
		}
		// The client may see output (and pass on a signal) before the pid
		// is known: the status says running from the start.
		st.StartedAt = time.Now().UTC()
		if err := writeStatusNoSync(m.dir, st); err != nil {
			return m.startFailed(hub, 125, fmt.Errorf("write status: %w", err))
		}
	}
	Tracef("monitor: runc run")
	cmd, err := m.cfg.Runc.runCommand(m.cfg.ID, m.cfg.Bundle, opts)
	if err == nil {
		if logW != nil {
			cmd.ExtraFiles = []*os.File{logW}
		}
		err = cmd.Start()
	}
	for _, f := range closeAfterStart {
		f.Close()
	}
	if err != nil {
		errGate.drop()
		return m.startFailed(hub, 125, fmt.Errorf("runc run: %w", err))
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	if m.local != nil {
		// A run still going after a moment gets a standby, which keeps
		// the container's logs and records its exit if this process is
		// killed (standby.go).
		sb := m.armStandby(cmd.Process.Pid, outR, errR, exited)
		defer sb.disarm()
	}
	var stMu sync.Mutex // st, between the pid's writer and the exit's
	finished := false
	pid := 0
	if usePidFile {
		pid = waitPidFile(pidPath, exited)
		Tracef("monitor: pid %d", pid)
	} else {
		// Ends when the pid is recorded or runc has exited.
		go func() {
			p := waitRuncPid(&m.cfg.Runc, m.cfg.ID, exited)
			stMu.Lock()
			defer stMu.Unlock()
			if p > 0 && !finished {
				st.Pid = p
				_ = writeStatusNoSync(m.dir, st)
			}
		}()
	}
	if usePidFile && pid == 0 {
		// runc exited without starting the process.
		<-exited
		errGate.drop()
		msg := LastRuncError(logPath)
		if msg == "" {
			msg = fmt.Sprintf("runc run: %v", waitErr)
		}
		err := fmt.Errorf("runc run: %s", msg)
		return m.startFailed(hub, ExitCodeFor(err), err)
	}
	if usePidFile {
		errGate.open()
	}
	var netns *os.File
	if !m.cfg.HostNetwork && len(proxies) > 0 {
		if netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
			_ = m.cfg.Runc.Kill(context.Background(), m.cfg.ID, syscall.SIGKILL, true)
			<-exited
			return m.startFailed(hub, 125, fmt.Errorf("open network namespace of %s: %w", m.cfg.ID, err))
		}
		defer netns.Close()
	}
	for _, p := range proxies {
		p.netns = netns
		go p.serve()
	}
	if usePidFile {
		st.Pid = pid
		if st.StartedAt.IsZero() {
			st.StartedAt = time.Now().UTC()
		}
		// Not synced: after a crash, a running status whose monitor is
		// gone reads as exited (Probe); only the exit status is worth a
		// sync.
		if err := writeStatusNoSync(m.dir, st); err != nil {
			_ = m.cfg.Runc.Kill(context.Background(), m.cfg.ID, syscall.SIGKILL, true)
			<-exited
			return m.startFailed(hub, 125, fmt.Errorf("write status: %w", err))
		}
		// Detached, the caller learns of the start only now, so a status
		// read after StartMonitor returns is the started one.
		m.sendReport(startReport{Pid: pid, Ports: ports})
	}

	<-exited
	Tracef("monitor: runc exited")
	code, _ := exitStatus(waitErr)
	if code < 0 {
		code = 255
	}
	if !usePidFile {
		// runc run exits 1 and logs its failure (and writes it to stderr)
		// when the process could not start; a process that ran and exited
		// non-zero leaves no error in runc's log, whatever it printed.
		select {
		case <-runcLogDone:
		case <-time.After(2 * time.Second):
		}
		if msg := lastRuncError(runcLog.Bytes()); code != 0 && msg != "" {
			stMu.Lock()
			finished = true
			stMu.Unlock()
			errGate.drop()
			err := fmt.Errorf("runc run: %s", msg)
			return m.startFailed(hub, ExitCodeFor(err), err)
		}
		errGate.open()
	}
	if ps := cmd.ProcessState; ps != nil {
		ws, ok := ps.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() && pid == 0 {
			// runc was killed before the pid was learnt: its state, which
			// it had no time to delete, still names the init.
			if rs, err := m.cfg.Runc.State(context.Background(), m.cfg.ID); err == nil {
				pid = rs.Pid
			}
		}
		if ok && ws.Signaled() && processAlive(pid) {
			// runc itself was killed; the container's init, orphaned, is
			// this subreaper's child now: its status is the one to keep.
			code = waitPid(pid)
		}
	}
	// The streams end once every process holding them has gone; with the
	// pid namespace's init gone that is at once, but do not hang on a
	// straggler.
	deadline := time.After(2 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case <-copies:
		case <-deadline:
			i = 2
		}
	}
	outLine.Flush()
	errLine.Flush()
	stMu.Lock()
	finished = true
	stMu.Unlock()
	m.finish(st, code, hub, proxies)
	return nil
}

// startFailed records a process that could not start: the caller learns of
// it from the report (detached) or from the exit frame and the status
// (attached).
// finish records the container's exit (without an fsync for a --rm
// container: a crash cannot hurt it), tells attached clients, closes the
// published ports and unmounts.
func (m *monitor) finish(st *Status, code int, hub *attachHub, proxies []*proxy) {
	st.Running, st.ExitCode, st.FinishedAt = false, code, time.Now().UTC()
	if m.oom != nil {
		st.OOMKilled = m.oom.Killed()
	}
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
	m.cleanup()
	Tracef("monitor: cleaned up")
}

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

// waitPidFile waits for runc to write the container's pid to path, which
// it does once the process has started, and returns it; 0 if exited is
// closed first (runc is gone) and no pid came.
func waitPidFile(path string, exited <-chan struct{}) int {
	read := func() int {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	t := time.NewTicker(500 * time.Microsecond)
	defer t.Stop()
	for {
		if pid := read(); pid > 0 {
			return pid
		}
		select {
		case <-exited:
			return read()
		case <-t.C:
		}
	}
}

func processAlive(pid int) bool {
	return pid > 0 && unix.Kill(pid, 0) == nil
}

// runcRunFailed begins what runc run writes to its stderr when it fails.
const runcRunFailed = "runc run failed"

// gateWriter holds what is written until open (then writes it through)
// or drop (then discards it and everything after). With a prefix, only a
// first write that begins with it is held; any other opens the gate.
type gateWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  []byte
	buf     []byte
	opened  bool
	dropped bool
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened && !g.dropped && g.prefix != nil && len(g.buf) == 0 && !bytes.HasPrefix(p, g.prefix) {
		g.opened = true
	}
	switch {
	case g.dropped:
	case g.opened:
		_, _ = g.w.Write(p)
	default:
		g.buf = append(g.buf, p...)
	}
	return len(p), nil
}

// held returns what the gate holds, as one line of text.
func (g *gateWriter) held() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.TrimSpace(string(g.buf))
}

func (g *gateWriter) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.dropped && !g.opened && len(g.buf) > 0 {
		_, _ = g.w.Write(g.buf)
	}
	g.opened, g.buf = true, nil
}

func (g *gateWriter) drop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dropped, g.buf = true, nil
}

// procStart returns pid's start time (field 22 of /proc/PID/stat, in clock
// ticks since boot) and whether it is a zombie.
func procStart(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	// The fields after comm, which ends at the last ")": state is field 3,
	// starttime field 22.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z", err
}

var selfStartTime uint64

// selfStart is this process's start time, as procStart gives it.
func selfStart() uint64 {
	if selfStartTime == 0 {
		selfStartTime, _, _ = procStart(os.Getpid())
	}
	return selfStartTime
}

// waitRuncPid asks runc state for the container's init pid, first after
// runcPidDelay (a short run is over by then and costs no runc state call)
// and then at growing intervals, and returns it; 0 once exited is closed.
func waitRuncPid(r *Runc, id string, exited <-chan struct{}) int {
	for d := runcPidDelay; ; d = min(2*d, 200*time.Millisecond) {
		select {
		case <-exited:
			return 0
		case <-time.After(d):
		}
		if st, err := r.State(context.Background(), id); err == nil && st.Pid > 0 {
			return st.Pid
		}
	}
}

// runcPidDelay is how long an attached run goes before its pid is asked
// of runc: the status says running from the start, and only ps, inspect
// and a signal's default-action check read the pid.
const runcPidDelay = 25 * time.Millisecond
