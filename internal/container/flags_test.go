package container

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apimount "github.com/moby/moby/api/types/mount"

	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/testutil"
)

func TestTty(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	opts := baseOptions(chain, "sh", "-c", "tty; echo hello")
	opts.Tty = true
	opts.AutoRemove = true
	out, _, code, err := run(t, s, opts)
	if err != nil || code != 0 {
		t.Fatalf("run -t: %d %v", code, err)
	}
	if want := "/dev/pts/0\r\nhello\r\n"; out != want {
		t.Errorf("run -t output %q, want %q", out, want)
	}
}

func TestBindsAndNetwork(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mod     func(*CreateOptions)
		script  string
		want    string
		wantErr string
	}{
		{"bind rw", func(o *CreateOptions) { o.Binds = []string{host + ":/data"} }, "cat /data/in.txt; echo out > /data/out.txt", "from host\n", ""},
		{"bind ro", func(o *CreateOptions) { o.Binds = []string{host + ":/data:ro"} }, "echo x > /data/x 2>/dev/null || echo refused", "refused\n", ""},
		// -v makes a missing host path, as docker's; --mount refuses it.
		{"bad bind", func(o *CreateOptions) {
			o.Mounts = []apimount.Mount{{Type: apimount.TypeBind, Source: "/no/such/dir", Target: "/data"}}
		}, "true", "", "bind source path does not exist: /no/such/dir"},
		{"network none", func(o *CreateOptions) {}, "ls /sys/class/net", "lo\n", ""},
		{"network host", func(o *CreateOptions) { o.Network = "host" }, "ls /sys/class/net | grep -c .", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(chain, "sh", "-c", tt.script)
			opts.AutoRemove = true
			tt.mod(&opts)
			out, errOut, code, err := run(t, s, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || code != 0 {
				t.Fatalf("run: %d %v %q", code, err, errOut)
			}
			if tt.want != "" && out != tt.want {
				t.Errorf("output %q, want %q", out, tt.want)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(host, "out.txt")); err != nil || string(b) != "out\n" {
		t.Errorf("write through the bind: %q %v", b, err)
	}
}

func TestInit(t *testing.T) {
	requireRunc(t)
	bin := filepath.Join(t.TempDir(), "strata-init")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/initmain")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build a static init: %v\n%s", err, out)
	}
	s, chain := newStore(t, snapshotters[0])
	s.init = bin
	opts := baseOptions(chain, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 7")
	opts.Init = true
	opts.AutoRemove = true
	out, _, code, err := run(t, s, opts)
	if err != nil || code != 7 {
		t.Fatalf("run --init: %d %v", code, err)
	}
	if !strings.HasPrefix(out, runtime.InitTarget+" init-reaper -- sh -c") {
		t.Errorf("pid 1 is %q, want the init", out)
	}

	// Stop reaches the command through the init.
	ctx := context.Background()
	opts = baseOptions(chain, "sh", "-c", `trap "exit 4" TERM; echo trapped; while :; do sleep 0.1; done`)
	opts.Init = true
	c, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the trap set", func() bool {
		var o bytes.Buffer
		_ = s.Logs(ctx, c.ID, LogsOptions{}, &o, &o)
		return strings.Contains(o.String(), "trapped")
	})
	if err := s.Stop(ctx, c.ID, StopOptions{Timeout: ptrTo(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if code, err := s.Wait(ctx, c.ID); err != nil || code != 4 {
		t.Errorf("stop through init: %d %v, want 4", code, err)
	}
}

func TestRestartAndDetachedRm(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	c, _, err := s.Run(ctx, baseOptions(chain, "sh", "-c", "echo run; sleep 60"), RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := s.Status(ctx, c.ID)
	if err := s.Restart(ctx, c.ID, StopOptions{Timeout: ptrTo(200 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	st2, err := s.Status(ctx, c.ID)
	if err != nil || !st2.Running || st2.Pid == st1.Pid {
		t.Fatalf("after restart: %+v %v", st2, err)
	}
	testutil.WaitFor(t, "both runs in the log", func() bool {
		var o bytes.Buffer
		_ = s.Logs(ctx, c.ID, LogsOptions{}, &o, &o)
		return o.String() == "run\nrun\n"
	})

	// A detached --rm container is removed by its monitor's cleanup
	// command when it exits.
	exe, _ := os.Executable()
	_ = exe
	marker := filepath.Join(t.TempDir(), "removed")
	s.remove = []string{"/bin/sh", "-c", `echo "$0" > ` + marker}
	opts := baseOptions(chain, "true")
	opts.AutoRemove = true
	c2, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the --rm container's removal", func() bool {
		b, _ := os.ReadFile(marker)
		return strings.TrimSpace(string(b)) == c2.ID
	})
}

func TestExecTtyAndLogsFollow(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	// The container prints once the exec has run (it made /tmp/go): on a
	// loaded machine a container on a timer alone may be gone first.
	c, _, err := s.Run(ctx, baseOptions(chain, "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; for i in 1 2 3; do echo line$i; sleep 0.2; done"), RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	var o bytes.Buffer
	code, err := s.Exec(ctx, c.ID, ExecOptions{Cmd: []string{"sh", "-c", "tty; touch /tmp/go"}, Tty: true}, runtime.IO{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &o})
	if err != nil || code != 0 || !strings.HasPrefix(o.String(), "/dev/pts/") {
		t.Errorf("exec -t tty: %d %v %q", code, err, o.String())
	}
	var logs bytes.Buffer
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Logs(fctx, c.ID, LogsOptions{Follow: true}, &logs, &logs); err != nil {
		t.Fatal(err)
	}
	if logs.String() != "line1\nline2\nline3\n" {
		t.Errorf("logs -f: %q", logs.String())
	}
	if fctx.Err() != nil {
		t.Errorf("logs -f did not end when the container exited")
	}
}
