package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/strata-project/strata/internal/testutil"
)

// ttyRun is strata running with its standard error on a pseudo-terminal
// of 100×40.
type ttyRun struct {
	cmd   *exec.Cmd
	ptmx  *os.File
	out   bytes.Buffer // standard output
	mu    sync.Mutex
	term  bytes.Buffer // what the terminal got
	read  chan error
	start time.Time
}

func (u *user) startTTY(t *testing.T, args ...string) *ttyRun {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	r := &ttyRun{ptmx: ptmx, read: make(chan error, 1)}
	r.cmd = exec.Command(strataBin, args...)
	r.cmd.Env = append(os.Environ(), "STRATA_ROOT="+u.root, "DOCKER_CONFIG="+u.config, "HOME="+u.config)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, tty
	r.start = time.Now()
	err = r.cmd.Start()
	tty.Close() // the child holds it; reads end (EIO) when it exits
	if err != nil {
		ptmx.Close()
		t.Fatal(err)
	}
	go func() {
		// Ends at EIO once the child, the last holder of the terminal's
		// other side, exits, or when wait closes ptmx.
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			r.mu.Lock()
			r.term.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				r.read <- err
				return
			}
		}
	}()
	return r
}

// sofar is what the terminal got until now, carriage returns removed.
func (r *ttyRun) sofar() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.ReplaceAll(r.term.String(), "\r", "")
}

// wait waits for strata to exit and returns what the terminal got, the
// exit code and how long it ran.
func (r *ttyRun) wait(t *testing.T) (term string, code int, took time.Duration) {
	t.Helper()
	defer r.ptmx.Close()
	werr := r.cmd.Wait()
	took = time.Since(r.start)
	if err := <-r.read; err != nil && !errors.Is(err, syscall.EIO) && !errors.Is(err, io.EOF) {
		t.Fatalf("read the terminal: %v", err)
	}
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	return r.sofar(), code, took
}

// runTTY runs strata on a pseudo-terminal and returns what the terminal
// got, standard output, the exit code and how long it ran.
func (u *user) runTTY(t *testing.T, args ...string) (term, stdout string, code int, took time.Duration) {
	t.Helper()
	r := u.startTTY(t, args...)
	term, code, took = r.wait(t)
	return term, r.out.String(), code, took
}

// finalFrame returns the lines of the display's last frame (after its
// header) up to the first line that is not a step, and the header.
func finalFrame(t *testing.T, term string) (header string, steps []string, rest string) {
	t.Helper()
	i := strings.LastIndex(term, "[+] Building")
	if i < 0 {
		t.Fatalf("no display in %q", term)
	}
	header, rest, _ = strings.Cut(term[i:], "\n")
	for {
		line, after, ok := strings.Cut(rest, "\n")
		line = strings.TrimPrefix(line, "\x1b[2K")
		if !ok || !strings.HasPrefix(line, " => ") {
			return header, steps, rest
		}
		steps = append(steps, line)
		rest = after
	}
}

// A build on a terminal draws BuildKit's display by default: redrawn in
// place while two stages run at once, and at the end every step once with
// its time or CACHED, then the image lines. A failure leaves the failed
// step and its output.
func TestBuildTTYDisplay(t *testing.T) {
	u := newUser(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", rootfs, "base")
	ctx := t.TempDir()
	df := `FROM base AS a
RUN for i in 1 2 3 4 5 6 7 8; do echo a line $i; sleep 0.1; done > /dev/stderr; echo a > /a
FROM base AS b
RUN for i in 1 2 3 4 5 6 7 8; do echo b line $i; sleep 0.1; done; echo b > /b
FROM base
COPY --from=a /a /a
COPY --from=b /b /b
RUN cat /a /b
`
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{
		"[a 1/2] FROM base",
		"[a 2/2] RUN for i in 1 2 3 4 5 6 7 8; do echo a line $i; sleep 0.1; done > /dev/stderr; echo a > /a",
		"[b 1/2] FROM base",
		"[b 2/2] RUN for i in 1 2 3 4 5 6 7 8; do echo b line $i; sleep 0.1; done; echo b > /b",
		"[stage-2 1/4] FROM base",
		"[stage-2 2/4] COPY --from=a /a /a",
		"[stage-2 3/4] COPY --from=b /b /b",
		"[stage-2 4/4] RUN cat /a /b",
	}
	stepLine := regexp.MustCompile(`^ => (CACHED )?(.*?) +\d+\.\ds$`)

	check := func(t *testing.T, term string, took time.Duration, cached bool) {
		t.Helper()
		// A cached build may end before the first tick: only the final
		// state is drawn then.
		if !strings.Contains(term, "\x1b[2K") || !cached && !strings.Contains(term, "A\x1b[2K[+] Building") {
			t.Errorf("no redraw in place in %q", term)
		}
		if n, most := strings.Count(term, "[+] Building"), int(took/(100*time.Millisecond))+2; n > most {
			t.Errorf("%d frames in %v: more than 10 a second", n, took)
		}
		if !cached && !strings.Contains(term, " => => # a line") {
			t.Errorf("no running step's output in %q", term)
		}
		header, steps, rest := finalFrame(t, term)
		if !regexp.MustCompile(`^\[\+\] Building \d+\.\ds \(8/8\) FINISHED$`).MatchString(header) {
			t.Errorf("final header %q", header)
		}
		seen := map[string]int{}
		for _, l := range steps {
			m := stepLine.FindStringSubmatch(l)
			if m == nil || len(l) > 99 {
				t.Errorf("final step line %q is not \" => [CACHED ]NAME  TIME\" within 99 columns", l)
				continue
			}
			seen[m[2]]++
			isFrom := strings.Contains(m[2], "FROM")
			if cached && !isFrom && m[1] == "" {
				t.Errorf("step %q is not CACHED on the second build", m[2])
			}
			if !cached && m[1] != "" {
				t.Errorf("step %q is CACHED on the first build", m[2])
			}
		}
		for _, n := range names {
			// A name is cut to the width: compare its start.
			k := n
			for s := range seen {
				if strings.HasPrefix(n, s) && len(s) > 20 {
					k = s
				}
			}
			if seen[k] != 1 {
				t.Errorf("final frame lists %q %d times:\n%s", n, seen[k], strings.Join(steps, "\n"))
			}
		}
		if len(steps) != len(names) {
			t.Errorf("final frame has %d steps, want %d:\n%s", len(steps), len(names), strings.Join(steps, "\n"))
		}
		if !strings.Contains(rest, "writing image sha256:") || !strings.Contains(rest, "naming to docker.io/library/tty:1") {
			t.Errorf("no image lines after the display: %q", rest)
		}
	}

	term, stdout, code, took := u.runTTY(t, "build", "-t", "tty:1", ctx)
	if code != 0 {
		t.Fatalf("build exit %d:\n%s", code, term)
	}
	if !strings.HasPrefix(stdout, "sha256:") {
		t.Errorf("stdout %q, want the image ID", stdout)
	}
	check(t, term, took, false)

	term, _, code, took = u.runTTY(t, "build", "--progress", "tty", "-t", "tty:1", ctx)
	if code != 0 {
		t.Fatalf("cached build exit %d:\n%s", code, term)
	}
	check(t, term, took, true)

	// Off a terminal, auto is the plain lines, with no escapes.
	r := u.ok(t, "build", "-t", "tty:1", ctx)
	if strings.Contains(r.stderr, "\x1b") || !strings.Contains(r.stderr, "#8 CACHED") {
		t.Errorf("auto off a terminal is not plain: %q", r.stderr)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "Dockerfile"), []byte("FROM base\nRUN echo compiling; echo oops; exit 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	term, _, code, _ = u.runTTY(t, "build", bad)
	if code != 1 {
		t.Fatalf("failing build exit %d:\n%s", code, term)
	}
	header, steps, rest := finalFrame(t, term)
	if strings.Contains(header, "FINISHED") || !strings.Contains(header, "(2/2)") {
		t.Errorf("failed build's header %q", header)
	}
	if len(steps) != 2 || !strings.HasPrefix(steps[1], " => ERROR [2/2] RUN echo compiling; echo oops; exit 7 ") {
		t.Errorf("failed build's steps:\n%s", strings.Join(steps, "\n"))
	}
	if !regexp.MustCompile(`^(\x1b\[J)?------\n > \[2/2\] RUN echo compiling; echo oops; exit 7:\n\d\.\d{3} compiling\n\d\.\d{3} oops\n------\nError: Dockerfile:2: RUN .* exited with code 7`).MatchString(rest) {
		t.Errorf("after the failed build's display: %q", rest)
	}
}

// Ctrl-C during a build ends the display: the running step is CANCELED
// in the final state, which is drawn once, and the ticker stops with it.
func TestBuildTTYInterrupt(t *testing.T) {
	u := newUser(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", rootfs, "base")
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM base\nRUN echo waiting; sleep 60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := u.startTTY(t, "build", ctx)
	if !testutil.Poll(testutil.Patience, func() bool { return strings.Contains(r.sofar(), " => => # waiting") }) {
		r.cmd.Process.Kill()
		term, _, _ := r.wait(t)
		t.Fatalf("the RUN did not show its output in %v: %q", testutil.Patience, term)
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	term, code, took := r.wait(t)
	if code == 0 || took > 30*time.Second {
		t.Fatalf("interrupted build: exit %d after %v:\n%q", code, took, term)
	}
	header, steps, rest := finalFrame(t, term)
	if strings.Contains(header, "FINISHED") || len(steps) != 2 || !strings.HasPrefix(steps[1], " => CANCELED [2/2] RUN echo waiting; sleep 60 ") {
		t.Errorf("final state:\n%s\n%s", header, strings.Join(steps, "\n"))
	}
	if strings.Contains(rest, "[+] Building") || strings.Contains(rest, "------") || !strings.HasPrefix(strings.TrimPrefix(lastLine(rest), "\x1b[J"), "Error: ") {
		t.Errorf("after the final state: %q", rest)
	}
}
