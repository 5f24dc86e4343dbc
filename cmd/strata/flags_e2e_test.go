package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// inspectF is strata inspect --format f NAME, trimmed.
func inspectF(t *testing.T, root, f, name string) string {
	t.Helper()
	return strings.TrimSpace(mustStrata(t, root, "inspect", "--format", f, name))
}

// TestRunEverydayFlags: --label/-l and --label-file over the image's,
// --stop-signal, --stop-timeout, --expose (and -P publishing it), --cidfile
// and the --workdir spelling land in the container's config as docker
// keeps them.
func TestRunEverydayFlags(t *testing.T) {
	root := containerRoot(t)
	dir := t.TempDir()
	lf := filepath.Join(dir, "labels")
	if err := os.WriteFile(lf, []byte("# team labels\nteam=infra\n\nempty\ntier=low\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cid := filepath.Join(dir, "cid")
	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--name", "f", "--label-file", lf, "-l", "tier=high", "--label", "x=a=b",
		"--stop-signal", "SIGUSR1", "--stop-timeout", "7", "--expose", "7000-7001/udp", "--expose", "81", "-P",
		"--cidfile", cid, "--workdir", "/www", "bb", "sleep", "60"))
	if b, err := os.ReadFile(cid); err != nil || string(b) != id {
		t.Errorf("cidfile holds %q (%v), want %s", b, err, id)
	}
	for f, want := range map[string]string{
		"{{json .Config.Labels}}":       `{"empty":"","team":"infra","tier":"high","x":"a=b"}`,
		"{{.Config.StopSignal}}":        "SIGUSR1",
		"{{.Config.StopTimeout}}":       "7",
		"{{json .Config.ExposedPorts}}": `{"7000/udp":{},"7001/udp":{},"81/tcp":{}}`,
		"{{.Config.WorkingDir}}":        "/www",
		"{{.HostConfig.IpcMode}}":       "private",
	} {
		if got := inspectF(t, root, f, "f"); got != want {
			t.Errorf("inspect %s = %s, want %s", f, got, want)
		}
	}
	if got := mustStrata(t, root, "port", "f"); strings.Count(got, "\n") != 3 || !strings.Contains(got, "81/tcp -> ") {
		t.Errorf("-P published %q, want the three exposed ports", got)
	}
	// A second run with the same --cidfile is refused before anything is made.
	r := strata(t, root, "run", "-d", "--cidfile", cid, "bb", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "container ID file found") || !strings.Contains(r.stderr, cid) {
		t.Errorf("run with an existing cidfile: exit %d, %q", r.code, r.stderr)
	}
	if n := len(strings.Fields(mustStrata(t, root, "ps", "-aq"))); n != 1 {
		t.Errorf("a refused run left %d containers", n)
	}
}

// TestStopSignalAndTimeout: stop sends the container's --stop-signal, stop
// --signal/-s replaces it, and a container that ignores it is killed when
// its --stop-timeout (or stop's --timeout/-t) runs out.
func TestStopSignalAndTimeout(t *testing.T) {
	root := containerRoot(t)
	trap := func(sig string, code int) string {
		return "trap 'echo got " + sig + "; exit " + string(rune('0'+code)) + "' " + sig + "; echo ready; while true; do sleep 0.1; done"
	}
	ready := func(name string) {
		testutil.WaitFor(t, name+" ready", func() bool { return strings.Contains(strata(t, root, "logs", name).stdout, "ready") })
	}
	mustStrata(t, root, "run", "-d", "--name", "usr1", "--stop-signal", "USR1", "bb", "sh", "-c", trap("USR1", 3))
	ready("usr1")
	mustStrata(t, root, "stop", "usr1")
	if got := inspectF(t, root, "{{.State.ExitCode}}", "usr1"); got != "3" {
		t.Errorf("stop with --stop-signal USR1: exit %s, want the trap's 3", got)
	}
	mustStrata(t, root, "run", "-d", "--name", "int", "bb", "sh", "-c", trap("INT", 4))
	ready("int")
	mustStrata(t, root, "stop", "--signal", "SIGINT", "int")
	if got := inspectF(t, root, "{{.State.ExitCode}}", "int"); got != "4" {
		t.Errorf("stop -s SIGINT: exit %s, want the trap's 4", got)
	}
	// It ignores TERM: killed once the timeout runs out, --timeout's or
	// the container's.
	mustStrata(t, root, "run", "-d", "--name", "deaf", "--stop-timeout", "1", "bb", "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done")
	ready("deaf")
	mustStrata(t, root, "stop", "deaf")
	if got := inspectF(t, root, "{{.State.ExitCode}}", "deaf"); got != "137" {
		t.Errorf("stop of a container ignoring TERM: exit %s, want 137", got)
	}
	mustStrata(t, root, "start", "deaf")
	ready("deaf")
	mustStrata(t, root, "stop", "--timeout", "0", "deaf")
	if got := inspectF(t, root, "{{.State.ExitCode}}", "deaf"); got != "137" {
		t.Errorf("stop --timeout 0: exit %s, want 137", got)
	}
	if r := strata(t, root, "stop", "-s", "NOPE", "deaf"); r.code != 1 || !strings.Contains(r.stderr, `"NOPE"`) {
		t.Errorf("stop -s NOPE: exit %d, %q", r.code, r.stderr)
	}
}

// TestRunNamespaceFlags: --ipc, --pid and --uts host share the host's
// namespace (and hostname); the default and private ones do not; --ipc
// none has no /dev/shm.
func TestRunNamespaceFlags(t *testing.T) {
	root := containerRoot(t)
	host := func(ns string) string {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	in := func(args ...string) string {
		return strings.TrimSpace(mustStrata(t, root, append(append([]string{"run", "--rm"}, args...), "bb", "sh", "-c", "for n in ipc pid uts; do readlink /proc/self/ns/$n; done; hostname")...))
	}
	hn, _ := os.Hostname()
	def := strings.Fields(in())
	shared := strings.Fields(in("--ipc", "host", "--pid", "host", "--uts", "host"))
	for i, ns := range []string{"ipc", "pid", "uts"} {
		if def[i] == host(ns) {
			t.Errorf("default %s namespace is the host's", ns)
		}
		if shared[i] != host(ns) {
			t.Errorf("--%s host: namespace %s, host's %s", ns, shared[i], host(ns))
		}
	}
	if shared[3] != hn || def[3] == hn {
		t.Errorf("hostname with --uts host %q, without %q; host's %q", shared[3], def[3], hn)
	}
	if got := in("--ipc", "shareable"); strings.Fields(got)[0] == host("ipc") {
		t.Errorf("--ipc shareable shares the host's namespace")
	}
	if r := strata(t, root, "run", "--rm", "--ipc", "none", "bb", "test", "-e", "/dev/shm"); r.code != 1 {
		t.Errorf("--ipc none: /dev/shm test exit %d, want 1 (absent)", r.code)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "create", "--pid", "host", "--name", "p", "bb")); got == "" {
		t.Fatal("create printed no ID")
	}
	if got := inspectF(t, root, "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}", "p"); got != "host private" {
		t.Errorf("inspect modes = %q", got)
	}
}

// TestCreateFlagsBadInput: each bad value is one line naming it, exit 125,
// and nothing is created.
func TestCreateFlagsBadInput(t *testing.T) {
	root := containerRoot(t)
	badLabels := filepath.Join(t.TempDir(), "labels")
	if err := os.WriteFile(badLabels, []byte("ok=1\n=nokey\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--ipc", "bogus"}, `invalid --ipc value "bogus"`},
		{[]string{"--ipc", "container:x"}, `"container:x"`},
		{[]string{"--pid", "private"}, `invalid --pid value "private"`},
		{[]string{"--uts", "x"}, `invalid --uts value "x"`},
		{[]string{"--uts", "host", "--hostname", "h"}, "--hostname and --uts=host"},
		{[]string{"--stop-signal", "NOPE"}, `invalid --stop-signal "NOPE"`},
		{[]string{"--stop-timeout", "-5"}, "invalid --stop-timeout -5"},
		{[]string{"--expose", "http"}, `invalid --expose "http"`},
		{[]string{"--expose", "90-80"}, `invalid --expose "90-80"`},
		{[]string{"--expose", "80/icmp"}, `unknown protocol "icmp"`},
		{[]string{"--label", "=v"}, `invalid label "=v"`},
		{[]string{"--label-file", badLabels}, badLabels + `:2: invalid label "=nokey"`},
		{[]string{"--label-file", "/nonexistent/labels"}, "/nonexistent/labels"},
	} {
		for _, verb := range []string{"run", "create"} {
			args := append(append([]string{verb}, tt.args...), "bb", "true")
			r := strata(t, root, args...)
			if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("%s: exit %d, stderr %q; want 125 and one line with %q", strings.Join(args, " "), r.code, r.stderr, tt.want)
			}
		}
	}
	if ids := mustStrata(t, root, "ps", "-aq"); ids != "" {
		t.Errorf("bad flags left containers: %s", ids)
	}
}

// TestInspectType: --type looks at one kind only; a bad kind is refused.
func TestInspectType(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "create", "--name", "bb", "bb", "true") // a container named as the image
	if got := inspectF(t, root, "{{.Name}}", "bb"); got != "/bb" {
		t.Errorf("inspect bb = %q, want the container first", got)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--type", "image", "--format", "{{index .RepoTags 0}}", "bb")); got != "bb:latest" {
		t.Errorf("inspect --type image bb = %q", got)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--type", "network", "--format", "{{.Name}}", "bridge")); got != "bridge" {
		t.Errorf("inspect --type network bridge = %q", got)
	}
	if r := strata(t, root, "inspect", "--type", "container", "bridge"); r.code != 1 || !strings.Contains(r.stderr, "Error: No such container: bridge") {
		t.Errorf("inspect --type container bridge: exit %d, %q", r.code, r.stderr)
	}
	if r := strata(t, root, "inspect", "--type", "bogus", "bb"); r.code != 1 || !strings.Contains(r.stderr, `"bogus" is not a valid value for --type`) {
		t.Errorf("inspect --type bogus: exit %d, %q", r.code, r.stderr)
	}
}
