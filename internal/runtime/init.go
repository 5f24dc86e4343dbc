package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	"golang.org/x/sys/unix"
)

// InitMain is the body of --init (the hidden "strata init-reaper -- CMD..."
// command, bind-mounted at InitTarget): it runs as the container's pid 1,
// starts args, forwards every signal it gets to it, reaps every orphan
// and exits with args' status (128+signal if it was killed). It returns
// only on a failure to start args, with docker's 126 or 127 in the error.
func InitMain(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("init: no command")
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		os.Exit(127)
	}
	p, err := os.StartProcess(path, args, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		os.Exit(126)
	}
	child := p.Pid
	for sig := range sigs {
		if sig == unix.SIGURG {
			continue // the Go runtime's own preemption signal
		}
		if sig != unix.SIGCHLD {
			_ = unix.Kill(child, sig.(unix.Signal))
			continue
		}
		// Reap everything that has exited; stop at the child's status.
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid == child {
				if ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ws.ExitStatus())
			}
		}
	}
	return nil
}
