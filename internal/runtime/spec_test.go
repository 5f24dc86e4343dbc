package runtime

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

func testRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:app\n"), 0o644)
	return root
}

func TestSpecProcess(t *testing.T) {
	root := testRootfs(t)
	img := ocispec.ImageConfig{Env: []string{"PATH=/img/bin", "A=1"}, Entrypoint: []string{"/entry"}, Cmd: []string{"default"}, WorkingDir: "/work", User: "app"}
	tests := []struct {
		name     string
		opts     SpecOptions
		wantArgs []string
		wantEnv  []string
		wantCwd  string
		wantUser specs.User
	}{
		{
			name:     "image defaults",
			opts:     SpecOptions{Config: img, Hostname: "h"},
			wantArgs: []string{"/entry", "default"},
			wantEnv:  []string{"PATH=/img/bin", "HOSTNAME=h", "A=1", "HOME=/home/app"},
			wantCwd:  "/work",
			wantUser: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{50, 10}},
		},
		{
			name:     "args replace cmd",
			opts:     SpecOptions{Config: img, Args: []string{"x", "y"}, Env: []string{"A=2", "B=3"}, WorkingDir: "/other", User: "0", Tty: true},
			wantArgs: []string{"/entry", "x", "y"},
			wantEnv:  []string{"PATH=/img/bin", "HOSTNAME=", "TERM=xterm", "A=2", "B=3", "HOME=/root"},
			wantCwd:  "/other",
			wantUser: specs.User{},
		},
		{
			name:     "entrypoint override drops cmd",
			opts:     SpecOptions{Config: img, Entrypoint: []string{"/bin/sh"}, User: "1234:staff"},
			wantArgs: []string{"/bin/sh"},
			wantEnv:  []string{"PATH=/img/bin", "HOSTNAME=", "A=1", "HOME=/"},
			wantCwd:  "/work",
			wantUser: specs.User{UID: 1234, GID: 50},
		},
		{
			name:     "empty entrypoint clears it",
			opts:     SpecOptions{Config: img, Entrypoint: []string{}, Args: []string{"ls"}},
			wantArgs: []string{"ls"},
			wantEnv:  []string{"PATH=/img/bin", "HOSTNAME=", "A=1", "HOME=/home/app"},
			wantCwd:  "/work",
			wantUser: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{50, 10}},
		},
		{
			name:     "default path",
			opts:     SpecOptions{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}},
			wantArgs: []string{"sh"},
			wantEnv:  []string{"PATH=" + DefaultPath, "HOSTNAME=", "HOME=/root"},
			wantCwd:  "/",
			wantUser: specs.User{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Rootfs = root
			s, err := Spec(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Args, Env []string
				Cwd       string
				User      specs.User
			}{s.Process.Args, s.Process.Env, s.Process.Cwd, s.Process.User}
			want := struct {
				Args, Env []string
				Cwd       string
				User      specs.User
			}{tt.wantArgs, tt.wantEnv, tt.wantCwd, tt.wantUser}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("process (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecShape(t *testing.T) {
	root := testRootfs(t)
	s, err := Spec(SpecOptions{Rootfs: root, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, Hostname: "h",
		HostsPath: "/x/hosts", Init: true, InitPath: "/usr/bin/strata", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	if diff := cmp.Diff([]specs.LinuxNamespaceType{"pid", "mount", "uts", "ipc", "network"}, ns); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	// Docker's default: no-new-privileges off, so setuid binaries work.
	if s.Process.NoNewPrivileges || len(s.Process.Capabilities.Bounding) != 14 || !s.Root.Readonly {
		t.Errorf("no-new-privileges %v, %d caps, read-only %v", s.Process.NoNewPrivileges, len(s.Process.Capabilities.Bounding), s.Root.Readonly)
	}
	dests := map[string]string{}
	for _, m := range s.Mounts {
		dests[m.Destination] = m.Type
	}
	for d, typ := range map[string]string{"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue", "/sys": "sysfs", "/etc/hosts": "bind", InitTarget: "bind"} {
		if dests[d] != typ {
			t.Errorf("mount %s: %q, want %q", d, dests[d], typ)
		}
	}
	if _, ok := dests["/etc/resolv.conf"]; ok {
		t.Errorf("resolv.conf mounted without a path")
	}
	if diff := cmp.Diff([]string{InitTarget, "--", "sh"}, s.Process.Args); diff != "" {
		t.Errorf("init args (-want +got):\n%s", diff)
	}
	// Docker's default seccomp profile, an allow list, unless unconfined.
	if sc := s.Linux.Seccomp; sc == nil || sc.DefaultAction != specs.ActErrno || len(sc.Architectures) == 0 {
		t.Errorf("seccomp: %+v", sc)
	}
	unconfined := Security{SecurityOpt: []string{"seccomp=unconfined"}}
	if u, err := Spec(SpecOptions{Rootfs: root, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, Security: unconfined}); err != nil || u.Linux.Seccomp != nil {
		t.Errorf("seccomp=unconfined: %v %+v", err, u.Linux.Seccomp)
	}
	host, err := Spec(SpecOptions{Rootfs: root, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, Network: "host"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range host.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Errorf("--network host has a network namespace")
		}
	}
}

func TestSpecErrors(t *testing.T) {
	root := testRootfs(t)
	tests := []struct {
		name string
		opts SpecOptions
		want string
	}{
		{"no command", SpecOptions{}, "no command"},
		{"unknown user", SpecOptions{Args: []string{"sh"}, User: "ghost"}, "unable to find user ghost"},
		{"unknown group", SpecOptions{Args: []string{"sh"}, User: "app:ghosts"}, "unable to find group ghosts"},
		{"relative workdir", SpecOptions{Args: []string{"sh"}, WorkingDir: "rel"}, "must be absolute"},
		{"init without binary", SpecOptions{Args: []string{"sh"}, Init: true}, "no init binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Rootfs = root
			_, err := Spec(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		want    PortMapping
		wantErr bool
	}{
		{"8080:80", PortMapping{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, false},
		{"0.0.0.0:8080:80/tcp", PortMapping{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, false},
		{"127.0.0.2::80", PortMapping{HostIP: "127.0.0.2", ContainerPort: 80, Proto: "tcp"}, false},
		{"[::1]:8080:80", PortMapping{HostIP: "::1", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, false},
		{"80", PortMapping{HostIP: "127.0.0.1", ContainerPort: 80, Proto: "tcp"}, false},
		{"8080:80/udp", PortMapping{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Proto: "udp"}, false},
		{"8080:80/sctp", PortMapping{}, true},
		{"x:80", PortMapping{}, true},
		{"8080:0", PortMapping{}, true},
		{"host:8080:80", PortMapping{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePort(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v is not invalid argument", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := (PortMapping{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}).String(); got != "127.0.0.1:8080->80/tcp" {
		t.Errorf("String() = %q", got)
	}
}

func TestLogRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 23, 16, 58, 5, 123456789, time.UTC)
	lw := &logWriter{w: &buf, now: func() time.Time { return now }}
	out := &lineWriter{log: lw, stream: "stdout"}
	errw := &lineWriter{log: lw, stream: "stderr"}
	out.Write([]byte("hel"))
	out.Write([]byte("lo\nwor"))
	errw.Write([]byte("oops\n"))
	out.Write([]byte("ld\nno newline"))
	out.Flush()
	if first := strings.SplitN(buf.String(), "\n", 2)[0]; first != `{"log":"hello\n","stream":"stdout","time":"2026-11-23T16:58:05.123456789Z"}` {
		t.Errorf("first line %s", first)
	}
	var got []LogEntry
	n, err := ReadLog(strings.NewReader(buf.String()+`{"log":"torn`), func(e LogEntry) bool { got = append(got, e); return true })
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("ReadLog: %d %v, want %d", n, err, buf.Len())
	}
	want := []LogEntry{{"hello\n", "stdout", now}, {"oops\n", "stderr", now}, {"world\n", "stdout", now}, {"no newline", "stdout", now}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestExitCodeFor(t *testing.T) {
	tests := []struct {
		msg  string
		want int
	}{
		{`runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH`, 127},
		{`runc create failed: unable to start container process: exec: "/x": stat /x: no such file or directory`, 127},
		{`runc create failed: unable to start container process: exec: "/etc/passwd": permission denied`, 126},
		{`runc create failed: error setting rlimits`, 125},
	}
	for _, tt := range tests {
		if got := ExitCodeFor(errors.New(tt.msg)); got != tt.want {
			t.Errorf("ExitCodeFor(%q) = %d, want %d", tt.msg, got, tt.want)
		}
	}
}

func TestRuncMissing(t *testing.T) {
	r := &Runc{Binary: "runc-not-installed-here", Root: t.TempDir()}
	_, err := r.State(t.Context(), "x")
	if err == nil || !strings.Contains(err.Error(), "apt-get install runc") {
		t.Errorf("got %v, want a hint to install runc", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = (&Runc{Root: t.TempDir()}).State(t.Context(), "x")
	if !errors.Is(err, ErrRuncMissing) {
		t.Errorf("got %v, want ErrRuncMissing", err)
	}
}
