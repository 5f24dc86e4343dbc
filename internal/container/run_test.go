package container

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/proc"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/testutil"
)

func baseOptions(chainID string, cmd ...string) CreateOptions {
	return CreateOptions{
		ImageRef: "busybox:test", ImageID: "sha256:test", ChainID: chainID,
		Config: ocispec.ImageConfig{Env: []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin", "IMAGE_VAR=1"}, Cmd: []string{"sh"}},
		Cmd:    cmd,
	}
}

func run(t *testing.T, s *Store, opts CreateOptions) (stdout, stderr string, code int, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	_, code, err = s.Run(ctx, opts, RunOptions{Attach: runtime.AttachOptions{Stdout: &o, Stderr: &e}})
	return o.String(), e.String(), code, err
}

func TestRunExitCodes(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	tests := []struct {
		name       string
		cmd        []string
		wantOut    string
		wantErrOut string
		wantCode   int
		wantErr    bool
	}{
		{name: "output", cmd: []string{"echo", "hello"}, wantOut: "hello\n"},
		{name: "stderr", cmd: []string{"sh", "-c", "echo oops >&2; exit 0"}, wantErrOut: "oops\n"},
		{name: "exit 3", cmd: []string{"sh", "-c", "exit 3"}, wantCode: 3},
		{name: "not executable", cmd: []string{"/etc/notexec.sh"}, wantCode: 126, wantErr: true},
		{name: "not found", cmd: []string{"nosuchcommand"}, wantCode: 127, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(chain, tt.cmd...)
			opts.AutoRemove = true
			out, errOut, code, err := run(t, s, opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if code != tt.wantCode || out != tt.wantOut || errOut != tt.wantErrOut {
				t.Errorf("got code %d stdout %q stderr %q, want %d %q %q", code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErrOut)
			}
		})
	}
	if ids, _ := s.ids(); len(ids) != 0 {
		t.Errorf("--rm left containers: %v", ids)
	}
}

func TestEnvWorkdirUser(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	tests := []struct {
		name string
		mod  func(*CreateOptions)
		want string
	}{
		{"defaults", func(o *CreateOptions) {}, "1 - / 0 0 0 /root\n"},
		{"env override", func(o *CreateOptions) { o.Env = []string{"FOO=bar", "IMAGE_VAR=2"} }, "2 bar / 0 0 0 /root\n"},
		{"workdir", func(o *CreateOptions) { o.WorkingDir = "/tmp" }, "1 - /tmp 0 0 0 /root\n"},
		{"user name", func(o *CreateOptions) { o.User = "app" }, "1 - / 1000 1000 1000 50 /home/app\n"},
		{"uid:gid", func(o *CreateOptions) { o.User = "1234:50" }, "1 - / 1234 50 50 /\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(chain, "sh", "-c", `echo $IMAGE_VAR ${FOO:--} $(pwd) $(id -u) $(id -g) $(id -G) $HOME`)
			opts.AutoRemove = true
			tt.mod(&opts)
			out, errOut, code, err := run(t, s, opts)
			if err != nil || code != 0 {
				t.Fatalf("run: code %d, err %v, stderr %q", code, err, errOut)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		opts := baseOptions(chain, "true")
		opts.User = "ghost"
		opts.AutoRemove = true
		_, _, code, err := run(t, s, opts)
		if err == nil || !strings.Contains(err.Error(), "unable to find user ghost") || code != 125 {
			t.Errorf("got code %d err %v, want 125 and unable to find user", code, err)
		}
	})
}

func TestStdinAndNamespaces(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	opts := baseOptions(chain, "sh", "-c", `cat; hostname; cat /etc/hostname; ls /dev/null /dev/zero /dev/urandom /dev/pts/ptmx >/dev/null && echo devs; ip link 2>/dev/null | grep -c "^[0-9]"; echo $$; touch /x 2>/dev/null || echo ro`)
	opts.OpenStdin = true
	opts.Hostname = "box"
	opts.ReadOnly = true
	opts.AutoRemove = true
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, code, err := s.Run(ctx, opts, RunOptions{Attach: runtime.AttachOptions{Stdin: strings.NewReader("from stdin\n"), Stdout: &o, Stderr: &e}})
	if err != nil || code != 0 {
		t.Fatalf("run: code %d err %v stderr %q", code, err, e.String())
	}
	want := "from stdin\nbox\nbox\ndevs\n1\n1\nro\n"
	if diff := cmp.Diff(want, o.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestDetachedLogsStopRemove(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	tests := []struct {
		name     string
		script   string
		wantCode int
	}{
		{"graceful", `trap "echo bye; exit 0" TERM; echo started; while :; do sleep 0.1; done`, 0},
		{"ignores TERM", `trap "" TERM; echo started; while :; do sleep 0.1; done`, 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(chain, "sh", "-c", tt.script)
			c, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
			if err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, "\"started\" in the log", func() bool {
				var o bytes.Buffer
				_ = s.Logs(ctx, c.ID, LogsOptions{}, &o, io.Discard)
				return strings.Contains(o.String(), "started")
			})
			list, err := s.List(ctx, ListOptions{})
			if err != nil || len(list) != 1 || list[0].State != "running" || !strings.HasPrefix(list[0].Status, "Up ") {
				t.Fatalf("ps: %+v, %v", list, err)
			}
			if err := s.Remove(ctx, c.Name, false); !errdefs.IsConflict(err) {
				t.Errorf("rm of a running container: %v, want a conflict", err)
			}
			start := time.Now()
			if err := s.Stop(ctx, c.ID, StopOptions{Timeout: ptrTo(500 * time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode == 137 && time.Since(start) < 500*time.Millisecond {
				t.Errorf("stop returned after %v, before the timeout", time.Since(start))
			}
			code, err := s.Wait(ctx, c.ID)
			if err != nil || code != tt.wantCode {
				t.Errorf("wait: %d, %v; want %d", code, err, tt.wantCode)
			}
			list, _ = s.List(ctx, ListOptions{All: true})
			if len(list) != 1 || !strings.HasPrefix(list[0].Status, "Exited ("+strconv.Itoa(tt.wantCode)+")") {
				t.Errorf("ps -a: %+v", list)
			}
			var o bytes.Buffer
			if err := s.Logs(ctx, c.ID, LogsOptions{Tail: 1, TailSet: true, Timestamps: true}, &o, &o); err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(o.String()); len(f) != 2 || !strings.Contains(o.String(), "T") {
				t.Errorf("logs --tail 1 -t: %q", o.String())
			}
			if err := s.Remove(ctx, c.ID, false); err != nil {
				t.Fatal(err)
			}
			if left, _ := mountsUnder(s.root); len(left) > 0 {
				t.Errorf("mounts left after rm: %v", left)
			}
			if _, err := os.Stat(s.dir(c.ID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("container dir left after rm: %v", err)
			}
		})
	}
}

func TestPsAfterMonitorKilled(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	c, _, err := s.Run(ctx, baseOptions(chain, "sleep", "60"), RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil || !st.Running {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := syscall.Kill(st.MonitorPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the killed monitor to end", func() bool { return !monitorProcessAlive(st.MonitorPid) })
	st2, err := s.Status(ctx, c.ID)
	if err != nil || !st2.Running || !st2.MonitorLost {
		t.Fatalf("after kill -9 of the monitor: %+v %v, want running with the monitor lost", st2, err)
	}
	if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the container to be exited", func() bool {
		l, _ := s.List(ctx, ListOptions{All: true})
		return len(l) == 1 && l[0].State == "exited"
	})
	// What the monitor did not record is settled once seen: the status
	// stops moving, and nothing of the run stays mounted.
	st3, err := s.Status(ctx, c.ID)
	if err != nil || st3.Running || st3.ExitCode != 255 || st3.Error == "" {
		t.Fatalf("after the container exited: %+v %v, want exited 255 with an error", st3, err)
	}
	time.Sleep(20 * time.Millisecond) // the clock moving on, so a re-settled FinishedAt would differ: not a synchronisation
	if st4, err := s.Status(ctx, c.ID); err != nil || !st4.FinishedAt.Equal(st3.FinishedAt) {
		t.Errorf("status moved: finished %v, then %v (%v)", st3.FinishedAt, st4.FinishedAt, err)
	}
	if left, _ := mountsUnder(s.dir(c.ID)); len(left) > 0 {
		t.Errorf("mounts left after the exit: %v", left)
	}
	if err := s.Remove(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	if left, _ := mountsUnder(s.root); len(left) > 0 {
		t.Errorf("mounts left after rm: %v", left)
	}
}

func monitorProcessAlive(pid int) bool { return proc.Alive(pid) }

func TestExec(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	opts := baseOptions(chain, "sleep", "60")
	opts.Env = []string{"CVAR=c"}
	c, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opts     ExecOptions
		want     string
		wantCode int
	}{
		{"output", ExecOptions{Cmd: []string{"cat", "/etc/hostname"}}, ShortID(c.ID) + "\n", 0},
		{"env workdir user", ExecOptions{Cmd: []string{"sh", "-c", "echo $CVAR $EVAR $(pwd) $(id -u)"}, Env: []string{"EVAR=e"}, WorkingDir: "/tmp", User: "app"}, "c e /tmp 1000\n", 0},
		{"exit 5", ExecOptions{Cmd: []string{"sh", "-c", "exit 5"}}, "", 5},
		{"sees pid 1", ExecOptions{Cmd: []string{"sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}}, "sleep 60 ", 0},
		{"not found", ExecOptions{Cmd: []string{"nosuch"}}, "", 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o bytes.Buffer
			code, _ := s.Exec(ctx, c.ID, tt.opts, runtime.IO{Stdout: &o, Stderr: io.Discard})
			if code != tt.wantCode || o.String() != tt.want {
				t.Errorf("got %d %q, want %d %q", code, o.String(), tt.wantCode, tt.want)
			}
		})
	}
	if err := s.Remove(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
}

func TestPublish(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	opts := baseOptions(chain, "httpd", "-f", "-p", "8080", "-h", "/www")
	opts.Publish = []string{"127.0.0.1:0:8080"}
	c, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil || len(st.Ports) != 1 || st.Ports[0].HostPort == 0 {
		t.Fatalf("status ports: %+v %v", st, err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(st.Ports[0].HostPort) + "/index.html"
	var body []byte
	testutil.WaitFor(t, "the published port to answer", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	if string(body) != "hello from strata\n" {
		t.Errorf("GET %s: %q", url, body)
	}
	l, _ := s.List(ctx, ListOptions{})
	if len(l) != 1 || len(l[0].Ports) != 1 || !strings.HasSuffix(l[0].Ports[0].String(), "->8080/tcp") {
		t.Errorf("ps ports: %+v", l)
	}

	t.Run("host port taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		opts := baseOptions(chain, "true")
		opts.Publish = []string{ln.Addr().String() + ":80"}
		c2, code, err := s.Run(ctx, opts, RunOptions{Detach: true})
		if err == nil || code != 125 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("got code %d err %v, want 125 and address already in use", code, err)
		}
		// The run's one clean-up: nothing of it is left, mounted or not.
		if c2 != nil {
			t.Errorf("a run that could not start returned container %s", c2.ID)
		}
		left, _ := mountsUnder(s.containersDir())
		for _, m := range left {
			if !strings.HasPrefix(m, s.dir(c.ID)+"/") {
				t.Errorf("mount left after a failed start: %s", m)
			}
		}
		if ids, _ := s.ids(); len(ids) != 1 || ids[0] != c.ID {
			t.Errorf("containers after a failed run: %v, want only %s", ids, c.ID)
		}
	})
	if err := s.Stop(ctx, c.ID, StopOptions{Timeout: ptrTo(time.Second)}); err != nil {
		t.Fatal(err)
	}
}

// -p HOSTPORT:PORT/udp forwards datagrams into the container's network
// namespace and the replies back, a flow per client address.
func TestPublishUDP(t *testing.T) {
	requireRunc(t)
	bin := filepath.Join(t.TempDir(), "udpecho")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/udpecho")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build a static udpecho: %v\n%s", err, out)
	}
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	opts := baseOptions(chain, "/udpecho", "5353")
	opts.Binds = []string{bin + ":/udpecho:ro"}
	opts.Publish = []string{"127.0.0.1:0:5353/udp"}
	c, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil || len(st.Ports) != 1 || st.Ports[0].HostPort == 0 || st.Ports[0].Proto != "udp" {
		t.Fatalf("status ports: %+v %v", st, err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(st.Ports[0].HostPort)
	for _, client := range []string{"one", "two"} {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var got string
		// The server may not listen yet: a datagram sent before is lost.
		testutil.WaitFor(t, "the UDP echo", func() bool {
			if _, err := conn.Write([]byte(client)); err != nil {
				return false
			}
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			b := make([]byte, 100)
			n, err := conn.Read(b)
			got = string(b[:n])
			return err == nil
		})
		if got != "echo: "+client {
			t.Errorf("client %s got %q", client, got)
		}
	}
	l, _ := s.List(ctx, ListOptions{})
	if len(l) != 1 || len(l[0].Ports) != 1 || !strings.HasSuffix(l[0].Ports[0].String(), "->5353/udp") {
		t.Errorf("ps ports: %+v", l)
	}
	if err := s.Remove(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := net.ListenPacket("udp", addr); err != nil {
		t.Errorf("the host port is still taken after rm: %v", err)
	}
}

// The default seccomp profile filters the container's calls: a call it
// blocks fails even where the capabilities would let it through
// (CAP_SYS_ADMIN is not among them, so the filter is seen in the status);
// seccomp=unconfined runs without one.
func TestSeccomp(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	for _, tt := range []struct {
		unconfined bool
		want       string
	}{{false, "2"}, {true, "0"}} {
		opts := baseOptions(chain, "sh", "-c", `sed -n "s/^Seccomp:\t//p" /proc/self/status`)
		opts.AutoRemove = true
		opts.SeccompUnconfined = tt.unconfined
		out, errOut, code, err := run(t, s, opts)
		if err != nil || code != 0 || strings.TrimSpace(out) != tt.want {
			t.Errorf("unconfined %v: seccomp mode %q (code %d, %v, %q), want %s", tt.unconfined, out, code, err, errOut, tt.want)
		}
	}
}

// A --rm container's layer is mounted volatile (no syncs: it goes when
// the run ends); any other container's is not, as its layer must survive
// a crash.
func TestRunRmVolatile(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	for _, rm := range []bool{true, false} {
		opts := baseOptions(chain, "sh", "-c", `grep -c "^overlay / .*volatile" /proc/mounts`)
		opts.AutoRemove = rm
		out, errOut, code, err := run(t, s, opts)
		want := "0\n"
		if rm {
			want = "1\n"
		}
		if err != nil || out != want {
			t.Errorf("--rm %v: volatile mounts %q (code %d, %v, %q), want %q", rm, out, code, err, errOut, want)
		}
	}
}

func TestNames(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	opts := baseOptions(chain, "true")
	opts.Name = "web"
	c, err := s.Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, opts); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), c.ID) {
		t.Errorf("second create with the name: %v, want a conflict naming %s", err, c.ID)
	}
	for _, ref := range []string{"web", c.ID, ShortID(c.ID), c.ID[:5]} {
		if got, err := s.Get(ref); err != nil || got.ID != c.ID {
			t.Errorf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	anon, err := s.Create(ctx, baseOptions(chain, "true"))
	if err != nil || !strings.Contains(anon.Name, "_") {
		t.Errorf("generated name %q, %v", anon.Name, err)
	}
	if err := s.Remove(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, opts); err != nil {
		t.Errorf("name not free after rm: %v", err)
	}
}

// A --rm container settled after its monitor died, whose removal then
// failed (or was cut short), is removed by the next command that looks at
// it; a container without --rm stays, exited.
func TestSettledRmRemovedLater(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	settled := func(rm bool) *Container {
		o := baseOptions(chain, "true")
		o.AutoRemove = rm
		c, err := s.Create(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		st := &runtime.Status{StartedAt: now, FinishedAt: now, ExitCode: 255, Error: "the container's monitor died", Settled: true}
		if err := runtime.WriteFileAtomic(filepath.Join(s.dir(c.ID), runtime.StatusFile), st); err != nil {
			t.Fatal(err)
		}
		return c
	}
	rm, keep := settled(true), settled(false)
	l, err := s.List(ctx, ListOptions{All: true})
	if err != nil || len(l) != 1 || l[0].ID != keep.ID || l[0].State != "exited" {
		t.Fatalf("ps -a: %+v %v, want only the container without --rm, exited", l, err)
	}
	if _, err := s.Get(rm.ID); !errdefs.IsNotFound(err) {
		t.Errorf("the --rm container: %v, want not found", err)
	}
	if _, err := os.Stat(s.dir(rm.ID)); !os.IsNotExist(err) {
		t.Errorf("its directory: %v, want gone", err)
	}
}

// TestRunFailureCleanup: the run sequence's one clean-up. A run that made
// its container and could not start it leaves nothing, --rm or not; start
// -a of an existing container that cannot start leaves it as it was.
func TestRunFailureCleanup(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	for _, detach := range []bool{false, true} {
		c, code, err := s.Run(ctx, baseOptions(chain, "nosuchcommand"), RunOptions{Detach: detach})
		if err == nil || code != 127 || c != nil {
			t.Errorf("run (detach %v) of a missing command: container %v, code %d, err %v; want none, 127 and an error", detach, c, code, err)
		}
	}
	if ids, _ := s.ids(); len(ids) != 0 {
		t.Fatalf("failed runs left containers: %v", ids)
	}
	c, err := s.Create(ctx, baseOptions(chain, "nosuchcommand"))
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.StartAttached(ctx, c.ID, RunOptions{})
	if err == nil || code != 127 {
		t.Errorf("start -a of a missing command: code %d, err %v; want 127 and an error", code, err)
	}
	if _, err := s.Get(c.ID); err != nil {
		t.Errorf("start -a that failed removed the container: %v", err)
	}
	if err := s.Remove(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
}

func ptrTo[T any](v T) *T { return &v }
