package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A monitor can run inside the process of its one client: an attached
// run's CLI is its container's monitor, which spares starting a second
// strata process (a few ms of the ~45 ms of "run --rm IMAGE true"). It
// records the status, logs and exit as the separate monitor does, so ps,
// logs and wait see no difference while it runs. What it cannot do is
// outlive the CLI: a run still going after a moment starts a standby
// process (standby.go) that takes the container over if the CLI is killed:
// it keeps the log, records the exit (status unknown, 255), unmounts, and
// removes a --rm container. If the standby is killed too, or the CLI dies
// before it is started, the container is left to runc (ps then reports it
// from runc, and exited 255 once it is gone, as after a killed monitor;
// the first command to see it gone unmounts it, and removes it if --rm)
// and its output after that is lost. Detached containers, and attached
// ones with a terminal, keep the separate monitor.

// locals are the in-process monitors of this process, by container dir.
var locals struct {
	sync.Mutex
	m map[string]*localMonitor
}

type localMonitor struct {
	conn *net.UnixConn // the client's end, until Attach takes it
	done chan struct{} // closed when the monitor has finished
}

// StartLocalMonitor is StartMonitor for a monitor that runs in this
// process: an attached start without a terminal. The process is held back
// until Attach(dir) (which uses an in-process connection, not the attach
// socket); WaitLocalMonitor waits for the monitor to finish. While it
// runs, this process ignores SIGHUP and SIGPIPE, as the separate monitor
// does: a closed terminal or pipe must not take the container's monitor
// down with it. The client learns of them instead (AttachOptions'
// OutputClosed, and a signal.Notify of SIGHUP) and stops the container.
// cfg.CleanupArgs are run only by the standby, if it takes over: the
// client removes a --rm container itself, then calls DismissStandby.
func StartLocalMonitor(ctx context.Context, dir string, cfg MonitorConfig) (*Status, error) {
	if cfg.Tty || !cfg.Attach {
		return nil, fmt.Errorf("start %s: an in-process monitor is for attached runs without a terminal", cfg.ID)
	}
	if _, err := cfg.Runc.path(); err != nil {
		return nil, err
	}
	// No monitor.json: nothing would read it back.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	mine, err := unixConn(fds[0], "monitor")
	if err != nil {
		unix.Close(fds[1])
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	theirs, err := unixConn(fds[1], "client")
	if err != nil {
		mine.Close()
		return nil, fmt.Errorf("start monitor: %w", err)
	}
	// The container's init is reparented to this process if runc dies.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)

	lm := &localMonitor{conn: theirs, done: make(chan struct{})}
	locals.Lock()
	if locals.m == nil {
		locals.m = map[string]*localMonitor{}
	}
	locals.m[dir] = lm
	locals.Unlock()

	reports := make(chan startReport, 1)
	m := &monitor{dir: dir, cfg: cfg, local: mine, report: func(rep startReport) { reports <- rep }, standbyCleanup: cfg.CleanupArgs}
	m.cfg.CleanupArgs = nil
	// Ends when the container has exited and the monitor cleaned up.
	go func() {
		defer close(lm.done)
		if err := m.run(); err != nil {
			Tracef("local monitor: %v", err)
		}
	}()
	var rep startReport
	select {
	case rep = <-reports:
	case <-ctx.Done():
		// The monitor waits (60 s at most) for the attach that is not
		// coming; the process ends before that.
		return nil, fmt.Errorf("start %s: %w", cfg.ID, ctx.Err())
	}
	if rep.Error != "" {
		<-lm.done
		forgetLocal(dir)
		return nil, &StartError{ExitCode: rep.ExitCode, Msg: rep.Error}
	}
	return &Status{MonitorPid: os.Getpid(), MonitorStart: selfStart(), Running: true, Ports: rep.Ports}, nil
}

func unixConn(fd int, name string) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// takeLocal returns the client end of the in-process monitor of dir, once.
func takeLocal(dir string) *net.UnixConn {
	locals.Lock()
	defer locals.Unlock()
	lm := locals.m[dir]
	if lm == nil || lm.conn == nil {
		return nil
	}
	c := lm.conn
	lm.conn = nil
	return c
}

func forgetLocal(dir string) {
	locals.Lock()
	defer locals.Unlock()
	if lm := locals.m[dir]; lm != nil && lm.conn != nil {
		lm.conn.Close()
	}
	delete(locals.m, dir)
}

// WaitLocalMonitor waits for the in-process monitor of dir to finish (the
// exit recorded, the rootfs unmounted) and reports whether there was one.
func WaitLocalMonitor(dir string) bool {
	locals.Lock()
	lm := locals.m[dir]
	locals.Unlock()
	if lm == nil {
		return false
	}
	<-lm.done
	forgetLocal(dir)
	return true
}
