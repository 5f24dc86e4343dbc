package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// waitInspect polls inspect --format format on ref until it prints want
// (a condition polled with a generous deadline: the machine may be
// loaded) and fails the test with the last answer if it never does.
func waitInspect(t *testing.T, root, ref, format, want string) {
	t.Helper()
	var got string
	if !testutil.Poll(testutil.Patience, func() bool {
		r := strata(t, root, "inspect", "--format", format, ref)
		got = strings.TrimSpace(r.stdout + r.stderr)
		return got == want
	}) {
		t.Fatalf("inspect %s %q = %q, want %q", ref, format, got, want)
	}
}

const stateFormat = "{{.State.Status}} {{.State.Running}} {{.State.Restarting}} {{.RestartCount}} {{.State.ExitCode}}"

// on-failure:2 restarts a command that exits 1 twice, each run's output
// appended to the one log, then leaves it exited.
func TestRestartOnFailureMaxRetries(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "f", "--restart", "on-failure:2", "bb", "sh", "-c", "echo run; exit 1")
	waitInspect(t, root, "f", stateFormat, "exited false false 2 1")
	waitMonitorGone(t, root, "f")
	if got := mustStrata(t, root, "logs", "f"); got != "run\nrun\nrun\n" {
		t.Errorf("logs = %q, want three runs", got)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "f")); got != "on-failure:2" {
		t.Errorf("HostConfig.RestartPolicy = %s", got)
	}
	// A success is not a failure: no restart.
	mustStrata(t, root, "run", "-d", "--name", "ok", "--restart", "on-failure", "bb", "true")
	waitInspect(t, root, "ok", stateFormat, "exited false false 0 0")
}

// always: the container's process killed by its PID comes back (same
// published port), RestartCount 1; stop ends the policy.
func TestRestartAlwaysKilledByPid(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "a", "--restart", "always", "-p", "127.0.0.1::80", "bb", "httpd", "-f", "-p", "80", "-h", "/www")
	waitInspect(t, root, "a", stateFormat, "running true false 0 0")
	port := strings.TrimSpace(mustStrata(t, root, "port", "a", "80"))
	pid, err := strconv.Atoi(strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", "a")))
	if err != nil || pid <= 0 {
		t.Fatalf("State.Pid: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitInspect(t, root, "a", stateFormat, "running true false 1 0")
	if p2 := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", "a")); p2 == strconv.Itoa(pid) || p2 == "0" {
		t.Errorf("State.Pid after the restart = %s (was %d)", p2, pid)
	}
	if p2 := strings.TrimSpace(mustStrata(t, root, "port", "a", "80")); p2 != port {
		t.Errorf("port after the restart = %s, want %s", p2, port)
	}
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, " Up ") {
		t.Errorf("ps after the restart:\n%s", ps)
	}
	// httpd as pid 1 ignores SIGTERM: stop's SIGKILL ends it, and the
	// policy with it.
	mustStrata(t, root, "stop", "-t", "1", "a")
	waitMonitorGone(t, root, "a")
	waitInspect(t, root, "a", stateFormat, "exited false false 1 137")
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("mounts left after stop: %v", m)
	}
	// kill by the user ends it too; a start by the user resets the count.
	mustStrata(t, root, "start", "a")
	waitInspect(t, root, "a", stateFormat, "running true false 0 0")
	mustStrata(t, root, "kill", "a")
	waitMonitorGone(t, root, "a")
	waitInspect(t, root, "a", stateFormat, "exited false false 0 137")
}

// A container that keeps failing is "restarting" between runs (ps and
// inspect say so), its back-off growing; stop then ends it at once.
func TestRestartBackoffAndStop(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "r", "--restart", "always", "bb", "sh", "-c", "exit 3")
	// By the fifth restart the back-off is 1.6 s: long enough to see.
	var got string
	if !testutil.Poll(testutil.Patience, func() bool {
		got = strings.TrimSpace(mustStrata(t, root, "inspect", "--format", stateFormat, "r"))
		f := strings.Fields(got)
		if len(f) != 5 || f[0] != "restarting" || f[1] != "true" || f[2] != "true" || f[4] != "3" {
			return false
		}
		n, _ := strconv.Atoi(f[3])
		return n >= 5
	}) {
		t.Fatalf("inspect r: %s, want restarting after 5 restarts", got)
	}
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Restarting (3) ") {
		t.Errorf("ps while restarting:\n%s", ps)
	}
	if r := strata(t, root, "rm", "r"); r.code == 0 || !strings.Contains(r.stderr, "restarting container") {
		t.Errorf("rm of a restarting container: exit %d, %s", r.code, r.stderr)
	}
	mustStrata(t, root, "stop", "r")
	waitMonitorGone(t, root, "r")
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Status}} {{.State.Restarting}}", "r")); got != "exited false" {
		t.Errorf("after stop: %s", got)
	}
	if ps := mustStrata(t, root, "ps", "-a"); !strings.Contains(ps, "Exited (3) ") {
		t.Errorf("ps -a after stop:\n%s", ps)
	}
}

// update --restart reaches a created container and a running one.
func TestRestartUpdate(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "create", "--name", "u", "bb", "sh", "-c", "read x; exit 2")
	if out := mustStrata(t, root, "update", "--restart", "on-failure:1", "u"); out != "u\n" {
		t.Errorf("update printed %q", out)
	}
	mustStrata(t, root, "start", "u")
	// read x gets EOF at once: exit 2, one restart, then exited.
	waitInspect(t, root, "u", stateFormat, "exited false false 1 2")
	waitMonitorGone(t, root, "u")
	// Running: the new policy applies at the next exit.
	mustStrata(t, root, "run", "-d", "--name", "v", "bb", "sh", "-c", "sleep 1000")
	waitInspect(t, root, "v", stateFormat, "running true false 0 0")
	mustStrata(t, root, "update", "--restart", "always", "v")
	pid, _ := strconv.Atoi(strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", "v")))
	syscall.Kill(pid, syscall.SIGKILL)
	waitInspect(t, root, "v", stateFormat, "running true false 1 0")
	if r := strata(t, root, "update", "--restart", "sometimes", "v"); r.code != 1 || !strings.Contains(r.stderr, `invalid restart policy "sometimes"`) {
		t.Errorf("update --restart sometimes: exit %d, %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.Id}}", "v"))
	mon := monitorPid(t, root, id)
	mustStrata(t, root, "rm", "-f", "v")
	waitGone(t, mon, "monitor of v")
}

// Bad --restart values and --restart with --rm: one line, exit 125,
// nothing created.
func TestRestartBadInput(t *testing.T) {
	root := containerRoot(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--restart", "sometimes"}, `invalid restart policy "sometimes": use one of 'no', 'always', 'on-failure[:max-retries]' or 'unless-stopped'`},
		{[]string{"--restart", "on-failure:x"}, `invalid restart policy "on-failure:x": maximum retry count must be an integer`},
		{[]string{"--restart", "always:3"}, `maximum retry count can only be used with 'on-failure'`},
		{[]string{"--restart", "on-failure:-1"}, `maximum retry count cannot be negative`},
		{[]string{"--restart", "always", "--rm"}, `cannot specify both --restart and --rm`},
	} {
		for _, verb := range []string{"run", "create"} {
			args := append(append([]string{verb}, tc.args...), "bb", "true")
			r := strata(t, root, args...)
			if r.code != 125 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("strata %v: exit %d, stderr %q; want 125 and one line with %q", args, r.code, r.stderr, tc.want)
			}
		}
	}
	if ps := mustStrata(t, root, "ps", "-aq"); ps != "" {
		t.Errorf("bad input left containers: %s", ps)
	}
}

// waitMonitorGone waits until ref's monitor has exited: nothing is left
// to restart it.
func waitMonitorGone(t *testing.T, root, ref string) {
	t.Helper()
	id := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.Id}}", ref))
	pid := monitorPid(t, root, id)
	waitGone(t, pid, "monitor of "+ref)
}
