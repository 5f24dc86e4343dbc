package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/testutil"
)

// containerRoot makes a store with a busybox image "bb" (made by strata
// import, with a page under /www), or skips without root, runc or busybox.
// Every container left is removed at the end, and nothing of the root may
// stay mounted.
func containerRoot(t *testing.T) string {
	t.Helper()
	testutil.RequiresRoot(t)
	testutil.RequiresBusybox(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skipf("skipping %s: runc is not installed (apt-get install runc)", t.Name())
	}
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	for name, data := range map[string]string{"www/index.html": "hello from strata\n", "etc/data.txt": "original\n", "etc/old.txt": "to be deleted\n"} {
		os.MkdirAll(filepath.Dir(filepath.Join(rootfs, name)), 0o755)
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustStrata(t, root, "import", "-c", `CMD ["sh"]`, rootfs, "bb")
	t.Cleanup(func() {
		if ids := strings.Fields(strata(t, root, "ps", "-aq").stdout); len(ids) > 0 {
			strata(t, root, append([]string{"rm", "-f"}, ids...)...)
		}
		if m := mountsUnder(root); len(m) > 0 {
			t.Errorf("mounts left under the root: %v", m)
		}
	})
	return root
}

func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mounts")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir) {
			out = append(out, f[1])
		}
	}
	return out
}

func TestContainerRunExitCodes(t *testing.T) {
	root := containerRoot(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{"echo", []string{"run", "--rm", "bb", "echo", "hello"}, 0, "hello\n", ""},
		{"status", []string{"run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err"},
		{"not executable", []string{"run", "--rm", "bb", "/etc/data.txt"}, 126, "", "Error: "},
		{"not found", []string{"run", "--rm", "bb", "nosuchcmd"}, 127, "", "Error: "},
		{"unknown image", []string{"run", "--rm", "--pull", "never", "nosuch:1", "true"}, 125, "", "Unable to find image 'nosuch:1' locally"},
		{"env and workdir", []string{"run", "--rm", "-e", "A=1", "-w", "/tmp", "--hostname", "box", "bb", "sh", "-c", "echo $A $(pwd) $(hostname)"}, 0, "1 /tmp box\n", ""},
		{"entrypoint", []string{"run", "--rm", "--entrypoint", "echo", "bb", "a", "b"}, 0, "a b\n", ""},
		{"stdin", []string{"run", "--rm", "-i", "bb", "cat"}, 0, "", ""},
		{"read-only", []string{"run", "--rm", "--read-only", "bb", "touch", "/x"}, 1, "", "Read-only"},
		{"init", []string{"run", "--rm", "--init", "bb", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, 0, "/sbin/strata-init init-reaper -- sh -c cat /proc/1/cmdline | tr '\\0' ' ' ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strata(t, root, tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.inStderr) {
				t.Errorf("strata %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
					strings.Join(tt.args, " "), r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.inStderr)
			}
		})
	}
	// Runs that cannot start leave nothing behind.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := fmt.Sprintf("%d:80", l.Addr().(*net.TCPAddr).Port)
	for _, args := range [][]string{
		{"run", "-d", "-p", taken, "bb", "httpd", "-f", "-p", "80"},
		{"run", "bb", "nosuchcmd"},
		// -v makes a missing host path (docker's), --mount refuses one
		{"run", "--mount", "type=bind,src=" + filepath.Join(t.TempDir(), "does/not/exist") + ",dst=/x", "bb", "true"},
		{"run", "--network", "nosuch", "bb", "true"},
	} {
		if r := strata(t, root, args...); r.code < 125 || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("strata %s: exit %d, stderr %q; want 125-127 and an error", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if out := mustStrata(t, root, "ps", "-aq"); out != "" {
		t.Errorf("failed and --rm runs left containers: %q", out)
	}
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("failed runs left mounts: %v", m)
	}
}

// getWhenUp GETs url until it answers (a published port's listener may
// come up after run returns), failing the test if it never does, and
// returns the body.
func getWhenUp(t *testing.T, url string) string {
	t.Helper()
	var body []byte
	var err error
	if !testutil.Poll(testutil.Patience, func() bool {
		var resp *http.Response
		if resp, err = http.Get(url); err != nil {
			return false
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return true
	}) {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(body)
}

// freePort returns a loopback port nothing listens on (yet).
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestContainerDetachedLifecycle(t *testing.T) {
	root := containerRoot(t)
	port := freePort(t)
	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"bb", "sh", "-c", "echo started; exec httpd -f -v -p 80 -h /www"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a container ID", id)
	}
	ps := mustStrata(t, root, "ps")
	lines := strings.Split(strings.TrimSpace(ps), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "CONTAINER ID IMAGE COMMAND CREATED STATUS PORTS NAMES" || len(lines) != 2 {
		t.Fatalf("ps:\n%s", ps)
	}
	if !strings.HasPrefix(lines[1], id[:12]) || !strings.Contains(lines[1], "Up ") ||
		!strings.Contains(lines[1], fmt.Sprintf("127.0.0.1:%d->80/tcp", port)) || !strings.HasSuffix(lines[1], "web") {
		t.Errorf("ps row: %q", lines[1])
	}

	// The published port answers on loopback.
	body := getWhenUp(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
	if body != "hello from strata\n" {
		t.Errorf("GET / = %q", body)
	}

	// exec changes files; diff shows A, C and D.
	mustStrata(t, root, "exec", "web", "sh", "-c", "echo changed > /etc/data.txt; rm /etc/old.txt; echo new > /www/new.html")
	if r := strata(t, root, "exec", "web", "sh", "-c", "exit 4"); r.code != 4 {
		t.Errorf("exec exit 4: got %d", r.code)
	}
	diff := mustStrata(t, root, "diff", "web")
	for _, want := range []string{"C /etc/data.txt", "D /etc/old.txt", "A /www/new.html", "C /www"} {
		if !strings.Contains(diff, want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if logs := mustStrata(t, root, "logs", "web"); !strings.HasPrefix(logs, "started\n") {
		t.Errorf("logs = %q", logs)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Status}} {{.Name}}", "web")); got != "running /web" {
		t.Errorf("inspect = %q", got)
	}

	// rmi refuses the image, naming the container; prune keeps its layers.
	if r := strata(t, root, "rmi", "bb"); r.code != 1 || !strings.Contains(r.stderr, "web") {
		t.Errorf("rmi of a used image: exit %d, %q", r.code, r.stderr)
	}
	mustStrata(t, root, "system", "prune", "-a")
	if r := strata(t, root, "exec", "web", "cat", "/etc/data.txt"); r.stdout != "changed\n" {
		t.Errorf("after prune, the container reads %q", r.stdout)
	}

	// commit: a new layer on the shared base, a history row, and it runs.
	img := strings.TrimSpace(mustStrata(t, root, "commit", "-m", "edit data", "-a", "tester", "web", "bb:v2"))
	if !strings.HasPrefix(img, "sha256:") {
		t.Errorf("commit printed %q", img)
	}
	hist := strings.Split(strings.TrimSpace(mustStrata(t, root, "history", "--no-trunc", "bb:v2")), "\n")
	if len(hist) != 3 || !strings.Contains(hist[1], "edit data") || !strings.Contains(hist[1], "httpd -f -v -p 80") {
		t.Errorf("history of the commit:\n%s", strings.Join(hist, "\n"))
	}
	got := mustStrata(t, root, "run", "--rm", "bb:v2", "sh", "-c", "cat /etc/data.txt /www/new.html; ls /etc/old.txt 2>&1; true")
	if diff := cmp.Diff("changed\nnew\nls: /etc/old.txt: No such file or directory\n", got); diff != "" {
		t.Errorf("run of the committed image (-want +got):\n%s", diff)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{json .RootFS.Layers}}", "bb:v2")); strings.Count(got, "sha256:") != 2 {
		t.Errorf("committed image layers = %s, want the base and one new", got)
	}
	// commit -c goes through the builder's interpreter: ENTRYPOINT with no
	// CMD before it clears the container's Cmd, as docker commit does.
	mustStrata(t, root, "commit", "-c", `ENTRYPOINT ["/bin/sh", "-c"]`, "-c", "LABEL at=$HOME", "web", "bb:v3")
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{json .Config.Cmd}} {{json .Config.Entrypoint}} {{json .Config.Labels}}", "bb:v3")); got != `null ["/bin/sh","-c"] {"at":""}` {
		t.Errorf("commit -c ENTRYPOINT, LABEL: config %s", got)
	}

	// stop, then rm: nothing mounted, no directory, fsck clean.
	mustStrata(t, root, "stop", "-t", "1", "web")
	if st := mustStrata(t, root, "ps", "-a", "--format", "{{.State}} {{.Status}}"); !strings.HasPrefix(st, "exited Exited (137)") {
		t.Errorf("after stop: %q", st)
	}
	if r := strata(t, root, "rm", "bb"); r.code != 1 {
		t.Errorf("rm of no container: exit %d", r.code)
	}
	mustStrata(t, root, "rm", "web")
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("mounts left after rm: %v", m)
	}
	if _, err := os.Stat(filepath.Join(root, "containers", id)); !os.IsNotExist(err) {
		t.Errorf("container dir left after rm: %v", err)
	}
	if r := strata(t, root, "system", "fsck"); r.code != 0 || !strings.Contains(r.stdout, "clean") {
		t.Errorf("fsck after rm: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustStrata(t, root, "rmi", "bb:v2")
}

func TestContainerCreateStartWaitCp(t *testing.T) {
	root := containerRoot(t)
	id := strings.TrimSpace(mustStrata(t, root, "create", "--name", "job", "bb", "sh", "-c", "cat /in.txt; exit 5"))
	if st := mustStrata(t, root, "container", "ls", "-a", "--format", "{{.Names}} {{.Status}}"); st != "job Created\n" {
		t.Errorf("container ls after create: %q", st)
	}
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("copied in\n"), 0o644)
	mustStrata(t, root, "cp", in, "job:/in.txt")
	r := strata(t, root, "start", "-a", "job")
	if r.code != 5 || r.stdout != "copied in\n" {
		t.Errorf("start -a: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if got := mustStrata(t, root, "wait", "job"); got != "5\n" {
		t.Errorf("wait = %q", got)
	}
	if got := mustStrata(t, root, "ps", "-aq", "-f", "exited=5", "-f", "name=jo"); got != id[:12]+"\n" {
		t.Errorf("ps -aq -f exited=5 -f name=jo = %q, want %s", got, id[:12])
	}
	if got := mustStrata(t, root, "ps", "-aq", "-f", "status=running"); got != "" {
		t.Errorf("ps -f status=running = %q", got)
	}
	out := filepath.Join(t.TempDir(), "out.txt")
	mustStrata(t, root, "cp", "job:/in.txt", out)
	if b, _ := os.ReadFile(out); string(b) != "copied in\n" {
		t.Errorf("cp out: %q", b)
	}
	if r := strata(t, root, "run", "--name", "job", "bb", "true"); r.code != 125 || !strings.Contains(r.stderr, "job") {
		t.Errorf("run with a taken name: exit %d %q", r.code, r.stderr)
	}
	mustStrata(t, root, "container", "rm", id[:12])
	if out := mustStrata(t, root, "ps", "-aq"); out != "" {
		t.Errorf("ps -aq after rm = %q", out)
	}
}

func TestContainerVerbsHelp(t *testing.T) {
	root := t.TempDir()
	verbs := []string{"run", "create", "start", "stop", "kill", "restart", "rm", "ps", "logs", "exec", "wait", "cp",
		"export", "diff", "commit", "pause", "unpause", "container", "container ls", "container inspect"}
	for _, verb := range verbs {
		out := mustStrata(t, root, append(strings.Fields(verb), "--help")...)
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "Usage:") {
			t.Errorf("strata %s --help has no usage or example:\n%s", verb, out)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--help touched the store: %v", entries)
	}
}

// An attached run passes SIGINT to the container (docker's sig-proxy) and
// exits with its status; a hangup (the terminal closed) is passed on as
// Ctrl-C is. --rm then leaves nothing.
func TestContainerRunSignalProxy(t *testing.T) {
	root := containerRoot(t)
	for _, c := range []struct {
		sig  os.Signal
		trap string
		code int
	}{{os.Interrupt, "INT", 7}, {syscall.SIGHUP, "HUP", 9}} {
		// The proxy is set up before attaching starts the process, so
		// before "ready".
		cmd := startStrata(t, root, "ready", "run", "--rm", "bb", "sh", "-c", fmt.Sprintf(`trap "exit %d" %s; echo ready; sleep 30 & wait`, c.code, c.trap))
		cmd.Process.Signal(c.sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != c.code {
				t.Errorf("run after SIG%s: %v, want exit %d", c.trap, err, c.code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run did not end 10 s after SIG%s", c.trap)
		}
		if got := mustStrata(t, root, "ps", "-aq"); got != "" {
			t.Errorf("run --rm left %q after SIG%s", got, c.trap)
		}
	}
}

// An attached run is its container's monitor: a kill -9 of it leaves the
// container to runc, and ps keeps telling the truth: running while it
// runs, then exited with the status unknown (255), settled and unmounted.
func TestContainerRunCLIKilled(t *testing.T) {
	root := containerRoot(t)
	cmd := startStrata(t, root, "ready", "run", "--name", "k", "bb", "sh", "-c", "echo ready; exec sleep 30")
	cmd.Process.Kill()
	cmd.Wait()
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " k\n") {
		t.Fatalf("ps after kill -9 of run:\n%s", ps)
	}
	killAndSettle(t, root, "k")
}

// start -a of a container whose command cannot run exits with docker's
// code for it and leaves the container created, as docker start -a does.
func TestContainerStartAttachedFails(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "create", "--name", "bad", "bb", "nosuchcmd")
	if r := strata(t, root, "start", "-a", "bad"); r.code != 127 || !strings.HasPrefix(r.stderr, "Error: ") {
		t.Errorf("start -a: exit %d, stderr %q; want 127 and an error", r.code, r.stderr)
	}
	if ps := mustStrata(t, root, "ps", "-a"); !strings.Contains(ps, "Created") {
		t.Errorf("ps -a after a failed start:\n%s", ps)
	}
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("a failed start left mounts: %v", m)
	}
}

// snapshotDirs lists the snapshot directories of root's overlay store.
func snapshotDirs(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "snapshots", "overlay", "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkGone checks that nothing of a removed --rm container is left: no
// row in ps -a, no mount, no container directory, no snapshot beyond the
// image's (want), and fsck finds the store clean.
func checkGone(t *testing.T, root string, want []string) {
	t.Helper()
	if ps := mustStrata(t, root, "ps", "-aq"); ps != "" {
		t.Errorf("ps -aq: %q, want nothing", ps)
	}
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "containers")); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		// The name links live beside the container dirs.
		for _, n := range names {
			if len(n) == 64 {
				t.Errorf("container directories left: %v", names)
				break
			}
		}
	}
	if got := snapshotDirs(t, root); !cmp.Equal(got, want) {
		t.Errorf("snapshots %v, want the image's %v", got, want)
	}
	if r := strata(t, root, "system", "fsck"); r.code != 0 || !strings.Contains(r.stdout, "clean") {
		t.Errorf("fsck: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// waitPsGone polls ps -a until no container is left: each ps is the
// command that settles a container whose monitor is gone.
func waitPsGone(t *testing.T, root string) {
	t.Helper()
	if !testutil.Poll(testutil.Patience, func() bool { return mustStrata(t, root, "ps", "-aq") == "" }) {
		t.Fatalf("ps -a %v after the container was killed:\n%s", testutil.Patience, mustStrata(t, root, "ps", "-a"))
	}
}

// A kill -9 of an attached run --rm, the container's monitor, leaves the
// container running under runc (as docker's does when its CLI dies): ps
// says so. Once its process has exited, the next command that looks at it
// removes it as --rm asks: record, mount and snapshot.
func TestContainerRunRmCLIKilled(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	cmd := startStrata(t, root, "ready", "run", "--rm", "--name", "k", "bb", "sh", "-c", "echo ready; exec sleep 30")
	cmd.Process.Kill()
	cmd.Wait()
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " k\n") {
		t.Fatalf("ps after kill -9 of run --rm:\n%s", ps)
	}
	mustStrata(t, root, "kill", "k")
	waitPsGone(t, root)
	checkGone(t, root, snaps)
}

// The same for a detached --rm container whose monitor is killed.
func TestContainerRunRmDetachedMonitorKilled(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--rm", "--name", "d", "bb", "sleep", "30"))
	b, err := os.ReadFile(filepath.Join(root, "containers", id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		MonitorPid int `json:"monitorPid"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.MonitorPid <= 0 {
		t.Fatalf("state.json: %s (%v)", b, err)
	}
	if err := syscall.Kill(st.MonitorPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, st.MonitorPid, "killed monitor")
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " d\n") {
		t.Fatalf("ps after kill -9 of the monitor:\n%s", ps)
	}
	mustStrata(t, root, "kill", "d")
	waitPsGone(t, root)
	checkGone(t, root, snaps)
}

// strata run IMG yes | head -1: once head has gone, the container is sent
// SIGPIPE (then SIGKILL), so the pipeline ends and --rm removes it.
func TestContainerRunBrokenPipe(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	for _, args := range [][]string{{"--rm", "bb", "yes"}, {"--rm", "--init", "bb", "yes"}} {
		sh := exec.Command("sh", "-c", `"$@" | head -1`, "sh", strataBin, "--root", root, "run")
		sh.Args = append(sh.Args, args...)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = sh.Output(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			sh.Process.Kill()
			t.Fatalf("run %v | head -1 still running after 10 s", args)
		}
		if err != nil || string(out) != "y\n" {
			t.Errorf("run %v | head -1: %q, %v", args, out, err)
		}
		checkGone(t, root, snaps)
	}
}

// Ctrl-C of a run whose first process leaves SIGINT at its default action
// (which a pid namespace's init is spared) ends it at once, as it would
// the same process outside a container: SIGKILL, not the 2 s grace.
func TestContainerRunInterruptDefault(t *testing.T) {
	root := containerRoot(t)
	cmd := exec.Command(strataBin, "--root", root, "run", "--rm", "--name", "i", "bb", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Until sleep runs: before runc's init execs it, the signal may be
	// taken by a handler that the exec then drops.
	testutil.WaitFor(t, "sleep to run", func() bool {
		pid := strings.TrimSpace(strata(t, root, "inspect", "--format", "{{.State.Pid}}", "i").stdout)
		b, _ := os.ReadFile("/proc/" + pid + "/comm")
		return pid != "" && pid != "0" && string(b) == "sleep\n"
	})
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
			t.Errorf("run after SIGINT: %v, want exit 137", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end 10 s after SIGINT")
	}
	if d := time.Since(start); d > 1900*time.Millisecond {
		t.Errorf("run ended %v after SIGINT, want well before the 2 s grace", d)
	}
	if got := mustStrata(t, root, "ps", "-aq"); got != "" {
		t.Errorf("run --rm left %q", got)
	}
}

// A command whose first stderr line reads like runc's own failure, and
// that exits non-zero, ran: its output and status are its own, not a
// failed start (runc's log, which the container cannot write, tells).
func TestContainerRunStderrLooksLikeRunc(t *testing.T) {
	root := containerRoot(t)
	r := strata(t, root, "run", "--rm", "bb", "sh", "-c", `echo "runc run failed: not really" >&2; echo out; exit 3`)
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "runc run failed: not really\n" {
		t.Errorf("run: exit %d, stdout %q, stderr %q; want 3, the output as printed", r.code, r.stdout, r.stderr)
	}
	if r := strata(t, root, "run", "--rm", "bb", "nosuchcmd"); r.code != 127 || !strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("run of a missing command: exit %d, stderr %q; want 127 and one error line", r.code, r.stderr)
	}
	if got := mustStrata(t, root, "ps", "-aq"); got != "" {
		t.Errorf("run --rm left %q", got)
	}
}

// start -a of a --rm container is watched by its own monitor, which
// removes it on exit: also when the start -a client was killed first.
func TestContainerStartAttachedRmClientKilled(t *testing.T) {
	root := containerRoot(t)
	snaps := snapshotDirs(t, root)
	mustStrata(t, root, "create", "--rm", "--name", "a", "bb", "true")
	if r := strata(t, root, "start", "-a", "a"); r.code != 0 {
		t.Fatalf("start -a: exit %d, %s", r.code, r.stderr)
	}
	waitPsGone(t, root)
	checkGone(t, root, snaps)

	mustStrata(t, root, "create", "--rm", "--name", "k", "bb", "sh", "-c", "echo ready; exec sleep 30")
	cmd := startStrata(t, root, "ready", "start", "-a", "k")
	cmd.Process.Kill()
	cmd.Wait()
	if ps := mustStrata(t, root, "ps"); !strings.Contains(ps, "Up ") || !strings.Contains(ps, " k\n") {
		t.Fatalf("ps after kill -9 of start -a:\n%s", ps)
	}
	mustStrata(t, root, "kill", "k")
	waitPsGone(t, root)
	checkGone(t, root, snaps)
}

// run -t --rm: the separate monitor removes the container, and run, which
// finds it gone, still exits with its status.
func TestContainerRunTtyRm(t *testing.T) {
	root := containerRoot(t)
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("skipping: script (util-linux) gives run a terminal")
	}
	snaps := snapshotDirs(t, root)
	cmd := exec.Command("script", "-qec", strataBin+" --root "+root+" run -t --rm bb sh -c 'echo hi; exit 4'", "/dev/null")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 || !strings.Contains(string(out), "hi") {
		t.Errorf("run -t --rm: %q, %v; want hi and exit 4", out, err)
	}
	waitPsGone(t, root)
	checkGone(t, root, snaps)
}

// killAndSettle kills container name, whose monitor is gone: the exit is
// recorded as unknown (255) and its mounts undone once strata sees the
// process gone; then it is removed.
func killAndSettle(t *testing.T, root, name string) {
	t.Helper()
	mustStrata(t, root, "kill", name)
	var ps string
	if !testutil.Poll(testutil.Patience, func() bool {
		ps = mustStrata(t, root, "ps", "-a")
		return strings.Contains(ps, "Exited (255)")
	}) {
		t.Fatalf("ps -a after kill:\n%s", ps)
	}
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("mounts left once the exit was seen: %v", m)
	}
	mustStrata(t, root, "rm", name)
}
