package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runTTY runs a container with a terminal: runc create hands the pty
// master over the console socket, the monitor copies it to the log and to
// attached clients (and their keystrokes and sizes to it), runc start lets
// the process go, and the monitor, a subreaper, reaps the container's init
// for its status.
func (m *monitor) runTTY(hub *attachHub, proxies []*proxy, ports []PortMapping, outLine, errLine *lineWriter) error {
	ctx := context.Background()
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
	st := &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), Pid: pid, Running: true, StartedAt: time.Now().UTC(), Ports: ports, RestartCount: m.restarts.count}
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
