package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"

	"github.com/strata-project/strata/internal/testutil"
)

// ptyRun is strata running with a pseudo-terminal as its stdin, stdout
// and stderr.
type ptyRun struct {
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func startPty(t *testing.T, root string, args ...string) *ptyRun {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	r := &ptyRun{ptmx: ptmx, done: make(chan struct{})}
	r.cmd = exec.Command(strataBin, append([]string{"--root", root}, args...)...)
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = tty, tty, tty
	r.cmd.SysProcAttr = nil
	err = r.cmd.Start()
	tty.Close()
	if err != nil {
		ptmx.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
		ptmx.Close()
	})
	go func() {
		// Ends at EIO once strata, the last holder of the terminal, exits.
		defer close(r.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

func (r *ptyRun) sofar() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.ReplaceAll(r.out.String(), "\r", "")
}

func (r *ptyRun) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(r.ptmx, s); err != nil {
		t.Fatal(err)
	}
}

// exit waits for strata to exit and returns its code.
func (r *ptyRun) exit(t *testing.T) int {
	t.Helper()
	err := r.cmd.Wait()
	<-r.done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestAttach: attach joins a running container's terminal through its
// monitor: input reaches the shell, its output comes back; Ctrl-P Ctrl-Q
// (or --detach-keys) leaves it running with "read escape sequence" and
// exit 1, as docker's attach; run -it detaches the same way, silently
// with 0, as docker's run.
func TestAttach(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-dit", "--name", "box", "bb", "sh")
	a := startPty(t, root, "attach", "box")
	testutil.WaitFor(t, "the shell's answer", func() bool {
		a.send(t, "echo hi-$((40+2))\r")
		return strings.Contains(a.sofar(), "hi-42")
	})
	a.send(t, "\x10\x11")
	if code := a.exit(t); code != 1 || !strings.Contains(a.sofar(), "read escape sequence") {
		t.Errorf("detach from attach: exit %d, terminal %q", code, a.sofar())
	}
	if got := inspectF(t, root, "{{.State.Status}}", "box"); got != "running" {
		t.Errorf("after the detach the container is %s", got)
	}
	// Other keys; a partial sequence goes to the shell as typed.
	a = startPty(t, root, "attach", "--detach-keys", "ctrl-x,x", "box")
	testutil.WaitFor(t, "the shell's answer", func() bool {
		a.send(t, "echo x$((6*7))\r")
		return strings.Contains(a.sofar(), "x42")
	})
	a.send(t, "\x10\x11echo still-$((1+1))\r")
	testutil.WaitFor(t, "Ctrl-P Ctrl-Q passed through", func() bool { return strings.Contains(a.sofar(), "still-2") })
	a.send(t, "\x18x")
	if code := a.exit(t); code != 1 {
		t.Errorf("detach with ctrl-x,x: exit %d, terminal %q", code, a.sofar())
	}
	// The shell's exit ends an attach with its status.
	a = startPty(t, root, "attach", "box")
	testutil.WaitFor(t, "the shell", func() bool {
		a.send(t, "echo up-$((2+3))\r")
		return strings.Contains(a.sofar(), "up-5")
	})
	a.send(t, "exit 7\r")
	if code := a.exit(t); code != 7 {
		t.Errorf("attach to a shell that exits 7: exit %d", code)
	}

	// run -it: the same keys detach, silently, exit 0; the container runs on.
	r := startPty(t, root, "run", "-it", "--rm", "--name", "it", "bb", "sh")
	testutil.WaitFor(t, "run -it's shell", func() bool {
		r.send(t, "echo in-$((3*3))\r")
		return strings.Contains(r.sofar(), "in-9")
	})
	r.send(t, "\x10\x11")
	if code := r.exit(t); code != 0 || strings.Contains(r.sofar(), "escape") {
		t.Errorf("detach from run -it: exit %d, terminal %q", code, r.sofar())
	}
	if got := inspectF(t, root, "{{.State.Status}}", "it"); got != "running" {
		t.Errorf("after run -it's detach the container is %s", got)
	}
	mustStrata(t, root, "stop", "-t", "0", "it")
	testutil.WaitFor(t, "the --rm container gone", func() bool { return strata(t, root, "inspect", "it").code != 0 })
}

// TestAttachNoTTY: without a terminal attach passes stdin and the output
// streams, and ends with the container's status; a stopped container and
// bad detach keys are refused.
func TestAttachNoTTY(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-di", "--name", "echo", "bb", "sh", "-c", "read x; echo got $x; echo oops >&2; exit 3")
	cmd := exec.Command(strataBin, "--root", root, "attach", "echo")
	cmd.Stdin = strings.NewReader("hello\n")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || stdout.String() != "got hello\n" || stderr.String() != "oops\n" {
		t.Errorf("attach: %v, stdout %q, stderr %q; want exit 3, got hello, oops", err, stdout.String(), stderr.String())
	}
	if r := strata(t, root, "attach", "echo"); r.code != 1 || !strings.Contains(r.stderr, "Error: You cannot attach to a stopped container, start it first") {
		t.Errorf("attach to a stopped container: exit %d, %q", r.code, r.stderr)
	}
	mustStrata(t, root, "run", "-dit", "--name", "box", "bb", "sh")
	if r := strata(t, root, "attach", "box"); r.code != 1 || !strings.Contains(r.stderr, "the input device is not a TTY") {
		t.Errorf("attach to a terminal without one: exit %d, %q", r.code, r.stderr)
	}
	for _, keys := range []string{"ctrl-bogus", "a,,b", "ctrl-1", "", "ab"} {
		if r := strata(t, root, "attach", "--detach-keys", keys, "box"); keys != "" && (r.code != 1 || !strings.Contains(r.stderr, `invalid --detach-keys "`+keys+`"`)) {
			t.Errorf("attach --detach-keys %q: exit %d, %q", keys, r.code, r.stderr)
		}
	}
	if r := strata(t, root, "run", "--detach-keys", "ctrl-", "bb", "true"); r.code != 125 || !strings.Contains(r.stderr, `invalid --detach-keys "ctrl-"`) {
		t.Errorf("run --detach-keys ctrl-: exit %d, %q", r.code, r.stderr)
	}
}
