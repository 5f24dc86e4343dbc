package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecTty runs proc with a terminal in container id and copies it to o
// until the process exits; it returns the exit status. A terminal has one
// output: everything goes to o.Stdout.
//
// runc exec --tty copies the container's pty to its controlling terminal,
// which the caller may not have (a pipe, a test). So runc gets one: a pty
// made here, in a session of its own, whose master is copied to o. size,
// when set, is the initial window size, and sizes sent on resize (may be
// nil) resize the terminal; runc passes them on to the container's.
func (r *Runc) ExecTty(ctx context.Context, id string, proc specs.Process, o IO, logFile string, size *Winsize, resizes <-chan Winsize) (int, error) {
	master, slave, err := openPty()
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer master.Close()
	if size != nil {
		_ = resize(master, size.Rows, size.Cols)
	}
	proc.Terminal = true
	f, err := os.CreateTemp("", "strata-exec-*.json")
	if err != nil {
		slave.Close()
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer os.Remove(f.Name())
	if err := writeJSON(f, proc); err != nil {
		slave.Close()
		return -1, fmt.Errorf("exec in %s: write process: %w", id, err)
	}
	cmd, err := r.command(ctx, logFile, "exec", "--process", f.Name(), "--tty", id)
	if err != nil {
		slave.Close()
		return -1, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	slave.Close()
	copied := make(chan struct{})
	// Ends at EIO once runc (the slave's last holder) has exited.
	go func() {
		w := o.Stdout
		if w == nil {
			w = io.Discard
		}
		_, _ = io.Copy(w, master)
		close(copied)
	}()
	if resizes != nil {
		// Ends when resizes is closed or the copy above has ended.
		go func() {
			for {
				select {
				case ws, ok := <-resizes:
					if !ok {
						return
					}
					_ = resize(master, ws.Rows, ws.Cols)
				case <-copied:
					return
				}
			}
		}()
	}
	if o.Stdin != nil {
		// Ends at stdin's EOF or when the master is closed; a terminal
		// stdin that never ends stays blocked until the CLI exits.
		go func() { _, _ = io.Copy(master, o.Stdin) }()
	}
	code, err := exitStatus(cmd.Wait())
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	if err != nil {
		return code, fmt.Errorf("runc exec in %s: %w", id, err)
	}
	return code, nil
}

// openPty opens a new pseudo-terminal pair.
func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}
