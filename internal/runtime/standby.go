package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// An attached run's CLI is its container's monitor (local.go), and a kill
// -9 of it used to leave the container's output pipes without a reader:
// what the container printed after that was lost and the log stopped.
// A run that is still going after standbyDelay starts a standby: a re-exec
// of this binary (StandbyCommand), in a session of its own so a terminal's
// signals to the CLI's process group miss it, holding duplicates of the
// read ends of the container's stdout and stderr pipes, a pidfd of runc
// and the read end of a control pipe whose write end only the CLI holds.
// While the CLI lives the standby blocks on the control pipe and reads
// nothing. When the run is over the CLI writes one byte (DismissStandby)
// and the standby exits without touching anything. EOF without the byte
// means the CLI died: the standby names itself the monitor in the status
// (so ps, stop, kill and rm see a live monitor and do not settle the
// container under it), copies both pipes into the container's log, waits
// for runc (and the container's init) to exit, cleans up as the CLI would
// have (runc delete, unmount, network release), then records the exit as
// unknown (255: runc was the CLI's child, not the standby's, so its status
// cannot be had) and removes a --rm container. Output the CLI had read but not yet written to
// the log when it died is lost; everything after is in the pipes, which
// the standby reads. If the standby is killed too, the container is left
// to runc as before: the next command to see it gone settles it.
//
// Runs shorter than standbyDelay start nothing: the delay is one runtime
// timer, stopped when runc exits.

// StandbyCommand is the hidden verb of the standby: strata
// container-standby DIR CONFIG, wired to StandbyMain.
const StandbyCommand = "container-standby"

// standbyDelay is how long an attached run goes before it starts a standby:
// 250 ms, or $STRATA_STANDBY_DELAY (a Go duration). Tests that check what a
// short run does set it long, so that a loaded machine cannot make their
// short run look long.
var standbyDelay = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("STRATA_STANDBY_DELAY")); err == nil && d > 0 {
		return d
	}
	return 250 * time.Millisecond
}()

// The standby's descriptors besides stdin, stdout and stderr.
const (
	standbyCtlFd  = 3 // the control pipe's read end
	standbyOutFd  = 4 // the container's stdout pipe, read end
	standbyErrFd  = 5 // its stderr pipe, read end
	standbyRuncFd = 6 // a pidfd of the runc run process
)

// standbyConfig is the standby's last argument, as JSON.
type standbyConfig struct {
	ID      string    `json:"id"`
	Runc    Runc      `json:"runc"`
	LogPath string    `json:"logPath"`
	Log     LogConfig `json:"log,omitempty"`
	Rootfs  string    `json:"rootfs,omitempty"`
	// CleanupArgs removes the container (--rm) once its exit is recorded.
	CleanupArgs []string `json:"cleanupArgs,omitempty"`
	NoSync      bool     `json:"noSync,omitempty"`
	// NetworkRoot is MonitorConfig's: the sandbox to release.
	NetworkRoot string `json:"networkRoot,omitempty"`
	// ClientPid and ClientStart name the CLI (pid and start time): the
	// standby takes over only a status that names it.
	ClientPid   int    `json:"clientPid"`
	ClientStart uint64 `json:"clientStart"`
}

// standby is the CLI's side of one standby.
type standby struct {
	mu        sync.Mutex
	timer     *time.Timer
	ctl       *os.File      // the control pipe's write end, once started
	reaped    chan struct{} // closed once the started standby has exited
	dismissed bool
}

// standbys are this process's standbys, by container dir.
var standbys struct {
	sync.Mutex
	m map[string]*standby
}

// armStandby starts the standby of a local monitor's container after
// standbyDelay if runc (runcPid) has not exited by then (exited is closed
// when it has been reaped). outR and errR are the read ends of the
// container's output pipes; the copies that read them may have closed
// them by then.
func (m *monitor) armStandby(runcPid int, outR, errR *os.File, exited <-chan struct{}) *standby {
	sb := &standby{}
	standbys.Lock()
	if standbys.m == nil {
		standbys.m = map[string]*standby{}
	}
	standbys.m[m.dir] = sb
	standbys.Unlock()
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.timer = time.AfterFunc(standbyDelay, func() {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		if sb.dismissed || sb.ctl != nil {
			return
		}
		if err := sb.start(m, runcPid, outR, errR, exited); err != nil {
			Tracef("standby: not started: %v", err)
		}
	})
	return sb
}

// disarm keeps a standby from being started (runc has exited); one already
// started waits for DismissStandby.
func (sb *standby) disarm() {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.timer.Stop()
}

// start starts the standby process; sb.mu is held.
func (sb *standby) start(m *monitor, runcPid int, outR, errR *os.File, exited <-chan struct{}) error {
	pidfd, err := unix.PidfdOpen(runcPid, 0)
	if err != nil {
		return fmt.Errorf("pidfd of runc: %w", err)
	}
	defer unix.Close(pidfd)
	// runc not yet reaped after the pidfd was opened: the pidfd is runc's.
	select {
	case <-exited:
		return errors.New("runc has exited")
	default:
	}
	outFd, err := dupFile(outR)
	if err != nil {
		return fmt.Errorf("stdout pipe: %w", err)
	}
	defer unix.Close(outFd)
	errFd, err := dupFile(errR)
	if err != nil {
		return fmt.Errorf("stderr pipe: %w", err)
	}
	defer unix.Close(errFd)
	var ctl [2]int
	if err := unix.Pipe2(ctl[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("control pipe: %w", err)
	}
	ctlW := os.NewFile(uintptr(ctl[1]), "standby control")
	defer unix.Close(ctl[0])
	null, err := os.Open(os.DevNull)
	if err != nil {
		ctlW.Close()
		return err
	}
	defer null.Close()
	logf, err := os.OpenFile(m.path(MonitorLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		ctlW.Close()
		return err
	}
	defer logf.Close()
	cfg, err := json.Marshal(standbyConfig{
		ID: m.cfg.ID, Runc: m.cfg.Runc, LogPath: m.cfg.LogPath, Log: m.cfg.Log, Rootfs: m.cfg.Rootfs,
		CleanupArgs: m.standbyCleanup, NoSync: m.cfg.NoSync, NetworkRoot: m.cfg.NetworkRoot,
		ClientPid: os.Getpid(), ClientStart: selfStart(),
	})
	if err != nil {
		ctlW.Close()
		return err
	}
	// syscall.StartProcess, not os/exec: ExtraFiles would go through
	// (*os.File).Fd, which puts the pipes' shared file descriptions in
	// blocking mode under this process's own readers.
	pid, _, err := syscall.StartProcess("/proc/self/exe", []string{os.Args[0], StandbyCommand, m.dir, string(cfg)}, &syscall.ProcAttr{
		Dir:   m.dir,
		Env:   os.Environ(),
		Files: []uintptr{null.Fd(), logf.Fd(), logf.Fd(), uintptr(ctl[0]), uintptr(outFd), uintptr(errFd), uintptr(pidfd)},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		ctlW.Close()
		return fmt.Errorf("start standby: %w", err)
	}
	Tracef("standby: started %d", pid)
	sb.ctl = ctlW
	sb.reaped = make(chan struct{})
	// Ends when the standby exits: at the dismissal, or when this process
	// is gone (then it is not reaped here).
	go func() {
		defer close(sb.reaped)
		if p, err := os.FindProcess(pid); err == nil {
			_, _ = p.Wait()
		}
	}()
	return nil
}

// dupFile duplicates f's descriptor (close-on-exec), sharing its file
// description.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// DismissStandby ends the standby of the attached run of the container in
// dir, if one was started (it exits at once, touching nothing), and keeps
// one from being started. The run's CLI calls it once the run is over:
// the exit recorded and, with --rm, the container removed. It waits (1 s
// at most) for the standby to exit. A CLI that dies without calling it
// leaves the container to the standby.
func DismissStandby(dir string) {
	standbys.Lock()
	sb := standbys.m[dir]
	delete(standbys.m, dir)
	standbys.Unlock()
	if sb == nil {
		return
	}
	sb.mu.Lock()
	sb.dismissed = true
	sb.timer.Stop()
	ctl, reaped := sb.ctl, sb.reaped
	sb.ctl = nil
	sb.mu.Unlock()
	if ctl == nil {
		return
	}
	_, _ = ctl.Write([]byte{'g'})
	ctl.Close()
	select {
	case <-reaped:
	case <-time.After(time.Second):
	}
}

// StandbyMain is the body of the standby (the hidden "strata
// container-standby DIR CONFIG" command): it waits for the CLI's byte on
// fd 3 and returns, or, at EOF (the CLI died), takes the container over.
func StandbyMain(dir, config string) error {
	// The standby outlives terminals and pipes, as a monitor does.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	// Inherited without close-on-exec: the --rm cleanup command must not
	// inherit them in turn.
	for fd := standbyCtlFd; fd <= standbyRuncFd; fd++ {
		unix.CloseOnExec(fd)
	}
	var cfg standbyConfig
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		return fmt.Errorf("standby: %w", err)
	}
	ctl := os.NewFile(standbyCtlFd, "control")
	var b [1]byte
	// Blocks until the CLI writes its byte or is gone; nothing polls.
	n, _ := ctl.Read(b[:])
	ctl.Close()
	if n == 1 {
		return nil
	}
	return takeOver(dir, cfg)
}

// takeOver is the standby's work once the CLI has died.
func takeOver(dir string, cfg standbyConfig) error {
	Tracef("standby: taking over")
	// The pipes first: runc blocks once they are full.
	var w io.Writer = io.Discard
	if logf, err := openLog(cfg.LogPath, cfg.Log); err == nil {
		defer logf.Close()
		w = logf
	}
	lw := &logWriter{w: w, now: time.Now}
	lines := []*lineWriter{{log: lw, stream: "stdout"}, {log: lw, stream: "stderr"}}
	copies := make(chan struct{}, 2)
	for i, fd := range []int{standbyOutFd, standbyErrFd} {
		f := os.NewFile(uintptr(fd), lines[i].stream)
		// Ends at EOF: runc, the pipes' only writer, has exited.
		go func(f *os.File, lw *lineWriter) {
			_, _ = io.Copy(lw, f)
			f.Close()
			copies <- struct{}{}
		}(f, lines[i])
	}

	self, selfSt := os.Getpid(), selfStart()
	ours := func(s *Status) bool { return s.MonitorPid == cfg.ClientPid && s.MonitorStart == cfg.ClientStart }
	claimed := false
	initFd := -1
	st, err := ReadStatus(dir)
	switch {
	case err != nil:
		// No status: the run was over and its --rm container removed
		// before the byte was written. Nothing to look after.
	case ours(st):
		// Running: the CLI died while the container ran. Not running: it
		// died after recording the exit, before its cleanup was done.
		// Either way this process is the monitor from now on, so that
		// other commands wait for it rather than settle under it.
		st.MonitorPid, st.MonitorStart = self, selfSt
		if st.Running && st.Pid == 0 {
			if rs, err := cfg.Runc.State(context.Background(), cfg.ID); err == nil {
				st.Pid = rs.Pid
			}
		}
		if err := writeStatusNoSync(dir, st); err != nil {
			fmt.Fprintf(os.Stderr, "standby: write status: %v\n", err)
		} else {
			claimed = true
		}
		if st.Running && st.Pid > 0 {
			// If runc is killed its init runs on, orphaned: wait for it too.
			if fd, err := unix.PidfdOpen(st.Pid, 0); err == nil {
				initFd = fd
			}
		}
	default:
		// Another command settled it in the moment between the CLI's
		// death and this look (the container had exited): it is done.
	}
	Tracef("standby: claimed %v", claimed)

	waitPidfd(standbyRuncFd)
	if initFd >= 0 {
		waitPidfd(initFd)
		unix.Close(initFd)
	}
	Tracef("standby: container gone")
	// With runc gone the pipes end at once; do not hang on a straggler.
	deadline := time.After(2 * time.Second)
	done := 0
	for done < 2 {
		select {
		case <-copies:
			done++
		case <-deadline:
			done = 3
		}
	}
	if done == 2 {
		for _, l := range lines {
			l.Flush()
		}
	}
	if !claimed {
		return nil
	}
	cur, err := ReadStatus(dir)
	if err != nil || cur.MonitorPid != self || cur.MonitorStart != selfSt {
		return nil
	}
	// Released before the exit is recorded: no client waits for this
	// exit, and ps must not show a container exited whose rootfs and
	// network sandbox are still being let go (as settleLost does).
	m := &monitor{dir: dir, cfg: MonitorConfig{ID: cfg.ID, Runc: cfg.Runc, Rootfs: cfg.Rootfs, CleanupArgs: cfg.CleanupArgs, NetworkRoot: cfg.NetworkRoot}}
	m.release()
	if cur.Running {
		cur.Running, cur.ExitCode, cur.FinishedAt = false, 255, time.Now().UTC()
		cur.Error = "the run that was the container's monitor was killed: its exit status is unknown"
		write := writeStatus
		if cfg.NoSync {
			write = writeStatusNoSync
		}
		if err := write(dir, cur); err != nil {
			fmt.Fprintf(os.Stderr, "standby: write status: %v\n", err)
		}
	}
	m.runCleanupArgs()
	Tracef("standby: cleaned up")
	return nil
}

// waitPidfd waits for the process of pidfd to exit.
func waitPidfd(fd int) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
