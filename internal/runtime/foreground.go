package runtime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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
	st := &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), Running: true, Ports: ports, RestartCount: m.restarts.count}
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
		// A zombie counts: it is this subreaper's to reap for its status.
		if ok && ws.Signaled() && pid > 0 && unix.Kill(pid, 0) == nil {
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
