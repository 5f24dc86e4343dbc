package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/testutil"
)

// The standby of an attached run (runtime/standby.go): a run still going
// after 250 ms starts one, which takes the container over if the run is
// killed.

// counterScript prints 0, 1, 2... every 100 ms, n lines (forever if n is 0).
func counterScript(n int) string {
	cond := "true"
	if n > 0 {
		cond = fmt.Sprintf("[ $i -lt %d ]", n)
	}
	return fmt.Sprintf(`i=0; while %s; do echo $i; i=$((i+1)); sleep 0.1; done`, cond)
}

// standbyPids lists the standby processes of containers under root.
func standbyPids(root string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && args[1] == "container-standby" && strings.HasPrefix(args[2], root+"/") && !zombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && len(b) > i+2 && b[i+2] == 'Z'
}

// alive reports whether pid runs (not a zombie).
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !zombie(pid) }

// waitStandby waits for the one standby under root.
func waitStandby(t *testing.T, root string) int {
	t.Helper()
	var p []int
	if !testutil.Poll(testutil.Patience, func() bool {
		if p = standbyPids(root); len(p) > 1 {
			t.Fatalf("standbys %v, want one", p)
		}
		return len(p) == 1
	}) {
		t.Fatalf("no standby %v into the run", testutil.Patience)
	}
	return p[0]
}

// waitGone waits for pid to end (or be a zombie).
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	if !testutil.Poll(testutil.Patience, func() bool { return !alive(pid) }) {
		t.Fatalf("%s (pid %d) still running after %v", what, pid, testutil.Patience)
	}
}

// startRun starts an attached strata run and waits until it has printed
// first (a line of its output).
func startRun(t *testing.T, root, first string, args ...string) *exec.Cmd {
	t.Helper()
	return startStrata(t, root, first, append([]string{"run"}, args...)...)
}

// startStrata starts strata with args on root and returns once it has
// printed the line first; it is killed when the test ends.
func startStrata(t *testing.T, root, first string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(strataBin, append([]string{"--root", root}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == first {
			// Keep reading, so the run never blocks on its stdout.
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd
		}
	}
	t.Fatalf("run ended before printing %q: %v", first, sc.Err())
	return nil
}

// killRun kill -9s the run and reaps it.
func killRun(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// logCounter reads the counter lines of a container's log.
func logCounter(t *testing.T, root, name string) []int {
	t.Helper()
	var out []int
	for _, l := range strings.Fields(mustStrata(t, root, "logs", name)) {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("log line %q", l)
		}
		out = append(out, n)
	}
	return out
}

// checkCounter checks a counter log for what the kill may cost: at most
// one gap (lines the run had read but not written when it died).
func checkCounter(t *testing.T, got []int) {
	t.Helper()
	gaps := 0
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			gaps++
		}
	}
	if len(got) == 0 || got[0] != 0 || gaps > 1 {
		t.Errorf("log counter %v: want 0, 1, 2... with at most one gap", got)
	}
}

func monitorPid(t *testing.T, root, id string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "containers", id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		MonitorPid int `json:"monitorPid"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.MonitorPid
}

// A kill -9 of an attached run leaves its container to the standby: it
// runs on, its log keeps growing, ps names the standby its monitor, logs
// -f follows it, and stop ends it with the exit recorded (unknown: 255).
func TestContainerRunStandbyKeepsLogs(t *testing.T) {
	root := containerRoot(t)
	cmd := startRun(t, root, "10", "--name", "c", "bb", "sh", "-c", counterScript(0))
	sb := waitStandby(t, root)
	id := containerID(t, root)
	killRun(t, cmd)
	n1 := len(logCounter(t, root, "c"))
	var n2 int
	testutil.WaitFor(t, fmt.Sprintf("the log (%d lines at the kill) to grow by 3 lines", n1), func() bool {
		n2 = len(logCounter(t, root, "c"))
		return n2 >= n1+3
	})
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " c\n") {
		t.Fatalf("ps after kill -9 of run:\n%s", ps)
	}
	if got := monitorPid(t, root, id); got != sb {
		t.Errorf("state.json names monitor %d, want the standby %d", got, sb)
	}
	// logs -f goes on, and ends when the container does.
	follow := exec.Command(strataBin, "--root", root, "logs", "-f", "c")
	fout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Process.Kill()
	lines := make(chan int, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(fout)
		for sc.Scan() {
			n, _ := strconv.Atoi(sc.Text())
			lines <- n
		}
	}()
	last := -1
	for deadline := time.After(testutil.Patience); last < n2+5; {
		select {
		case n, ok := <-lines:
			if !ok {
				t.Fatalf("logs -f ended at %d", last)
			}
			last = n
		case <-deadline:
			t.Fatalf("logs -f stuck at %d, want past %d", last, n2+5)
		}
	}
	mustStrata(t, root, "stop", "-t", "1", "c")
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- follow.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("logs -f still following 5 s after stop")
	}
	waitGone(t, sb, "standby")
	if ps := mustStrata(t, root, "ps", "-a"); !strings.Contains(ps, "Exited (255)") {
		t.Errorf("ps -a after stop:\n%s", ps)
	}
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("mounts left after stop: %v", m)
	}
	checkCounter(t, logCounter(t, root, "c"))
	mustStrata(t, root, "rm", "c")
}

// With --rm, the standby removes the container once it ends by itself:
// record, snapshot and mounts, and fsck finds the store clean. The run is
// killed the moment its standby appears, before the standby could have
// been told anything.
func TestContainerRunRmStandbyRemoves(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	cmd := startRun(t, root, "0", "--rm", "--name", "r", "bb", "sh", "-c", counterScript(15))
	sb := waitStandby(t, root)
	killRun(t, cmd)
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " r\n") {
		t.Fatalf("ps after kill -9 of run --rm:\n%s", ps)
	}
	// No command looks at the container until the standby is done: it
	// alone removes it.
	waitGone(t, sb, "standby")
	if ents, _ := os.ReadDir(filepath.Join(root, "containers")); len(ents) > 1 {
		t.Errorf("containers dir after the standby: %v", ents)
	}
	checkGone(t, root, snaps)
}

// rm -f of a container its standby holds removes it; the standby ends.
func TestContainerRunStandbyRemoveForce(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	for _, rm := range []bool{false, true} {
		args := []string{"--name", "f", "bb", "sh", "-c", counterScript(0)}
		if rm {
			args = append([]string{"--rm"}, args...)
		}
		cmd := startRun(t, root, "3", args...)
		sb := waitStandby(t, root)
		killRun(t, cmd)
		mustStrata(t, root, "rm", "-f", "f")
		waitGone(t, sb, "standby")
		checkGone(t, root, snaps)
	}
}

// A run shorter than the delay starts no standby; a longer one's standby
// is gone when the run returns.
func TestContainerRunStandbyNormalPath(t *testing.T) {
	root := containerRoot(t)
	// "Short" is shorter than the delay: set the delay long, so that a
	// busy machine slowing the run down cannot start a standby.
	short := exec.Command(strataBin, "--root", root, "run", "--name", "s", "bb", "echo", "hi")
	short.Env = append(os.Environ(), "STRATA_STANDBY_DELAY=2m")
	if out, err := short.Output(); err != nil || string(out) != "hi\n" {
		t.Errorf("run: %q %v", out, err)
	}
	id := containerID(t, root)
	// The standby's stderr is the container's monitor.log: never made.
	if _, err := os.Stat(filepath.Join(root, "containers", id, "monitor.log")); !os.IsNotExist(err) {
		t.Errorf("a short run made monitor.log (a standby was started): %v", err)
	}
	if p := standbyPids(root); len(p) > 0 {
		t.Errorf("standbys after a short run: %v", p)
	}
	mustStrata(t, root, "rm", "s")

	cmd := startRun(t, root, "0", "--rm", "bb", "sh", "-c", counterScript(8))
	sb := waitStandby(t, root)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if alive(sb) {
		t.Errorf("standby %d still running after the run returned", sb)
	}
	if got := mustStrata(t, root, "ps", "-aq"); got != "" {
		t.Errorf("run --rm left %q", got)
	}
}

// The container exits as the run is killed: whichever finishes the exit,
// nothing is left of a --rm container once the standby is gone.
func TestContainerRunStandbyExitRace(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	for _, delay := range []time.Duration{0, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		cmd := startRun(t, root, "0", "--rm", "--name", "x", "bb", "sh", "-c", counterScript(0))
		sb := waitStandby(t, root)
		// runc kill, without strata: no strata command may settle it.
		kill := exec.Command("runc", "--root", filepath.Join(root, "runc"), "kill", "--all", containerID(t, root), "KILL")
		if err := kill.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay) // killing at varied moments of the exit is what is tested
		killRun(t, cmd)
		kill.Wait()
		waitGone(t, sb, "standby")
		if ents, _ := os.ReadDir(filepath.Join(root, "containers")); len(ents) > 1 {
			t.Errorf("delay %v: containers dir after the standby: %v", delay, ents)
		}
		// A run killed inside its own remove (after the container ended)
		// may leave the snapshot's directory, its record gone (fsck is
		// clean): a crash leftover by design, which the snapshotter's
		// Cleanup deletes, whatever the standby does.
		for _, d := range snapshotDirs(t, root) {
			if !slices.Contains(snaps, d) {
				t.Logf("delay %v: snapshot directory %s left by the run's own remove", delay, d)
				os.RemoveAll(filepath.Join(root, "snapshots", "overlay", "snapshots", d))
			}
		}
		checkGone(t, root, snaps)
	}
}

// containerID is the ID of the one container under root, read from disk.
func containerID(t *testing.T, root string) string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(root, "containers"))
	for _, e := range ents {
		if len(e.Name()) == 64 {
			return e.Name()
		}
	}
	t.Fatal("no container")
	return ""
}

// A kill -9 of the standby too leaves the container to runc, and the
// commands settle it as before.
func TestContainerRunStandbyKilled(t *testing.T) {
	root := containerRoot(t)
	cmd := startRun(t, root, "3", "--name", "k", "bb", "sh", "-c", counterScript(0))
	sb := waitStandby(t, root)
	killRun(t, cmd)
	testutil.WaitFor(t, "state.json to name the standby the monitor", func() bool {
		return monitorPid(t, root, containerID(t, root)) == sb
	})
	if err := syscall.Kill(sb, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, sb, "standby")
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " k\n") {
		t.Fatalf("ps after kill -9 of run and standby:\n%s", ps)
	}
	killAndSettle(t, root, "k")
}
