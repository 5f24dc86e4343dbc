package runtime

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/profiles/seccomp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestCapabilities(t *testing.T) {
	def := DefaultCapabilities()
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(def), func(c string) bool { return slices.Contains(drop, c) })
	}
	tests := []struct {
		name       string
		privileged bool
		add, drop  []string
		want       []string
	}{
		{"default", false, nil, nil, def},
		{"add, any case, with or without CAP_", false, []string{"net_admin", "CAP_Sys_Time"}, nil, append(slices.Clone(def), "CAP_NET_ADMIN", "CAP_SYS_TIME")},
		{"add a default one", false, []string{"CHOWN"}, nil, def},
		{"drop", false, nil, []string{"chown", "CAP_KILL"}, without("CAP_CHOWN", "CAP_KILL")},
		{"drop all", false, nil, []string{"all"}, nil},
		{"drop all, add one", false, []string{"NET_RAW"}, []string{"ALL"}, []string{"CAP_NET_RAW"}},
		{"add all, drop one", false, []string{"ALL"}, []string{"SYS_ADMIN"}, slices.DeleteFunc(allCapabilities(), func(c string) bool { return c == "CAP_SYS_ADMIN" })},
		{"privileged", true, nil, []string{"ALL"}, allCapabilities()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Capabilities(tt.privileged, tt.add, tt.drop)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []struct{ add, drop []string }{{[]string{"BOGUS"}, nil}, {nil, []string{"CAP_"}}, {[]string{""}, nil}} {
		_, err := Capabilities(false, bad.add, bad.drop)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "unknown capability") {
			t.Errorf("add %q drop %q: %v, want an unknown capability error", bad.add, bad.drop, err)
		}
	}
	// Every capability this process holds, and none it does not.
	all := allCapabilities()
	if !slices.Contains(all, "CAP_SYS_ADMIN") && ownBoundingSet()&(1<<21) != 0 {
		t.Errorf("allCapabilities %v lacks CAP_SYS_ADMIN", all)
	}
}

func TestCheckSysctl(t *testing.T) {
	for _, tt := range []struct {
		key  string
		host bool
		ok   bool
	}{
		{"net.ipv4.ip_forward", false, true},
		{"net.core.somaxconn", true, false},
		{"kernel.shmmax", false, true},
		{"kernel.shm_rmid_forced", true, true},
		{"kernel.msgmax", false, true},
		{"kernel.sem", false, true},
		{"fs.mqueue.msg_max", false, true},
		{"kernel.hostname", false, false},
		{"kernel.hostname_bogus", false, false},
		{"vm.swappiness", false, false},
		{"net.", false, false},
		{"fs.file-max", false, false},
	} {
		err := checkSysctl(tt.key, tt.host)
		if (err == nil) != tt.ok {
			t.Errorf("checkSysctl(%q, host=%v) = %v, want ok=%v", tt.key, tt.host, err, tt.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), tt.key) || !errors.Is(err, errdefs.ErrInvalidArgument)) {
			t.Errorf("checkSysctl(%q): %v does not name the key as invalid", tt.key, err)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"/run", []string{"noexec", "nosuid", "nodev"}},
		{"/run:size=64m,mode=1777", []string{"noexec", "nosuid", "nodev", "size=64m", "mode=1777"}},
		{"/run/:exec,suid", []string{"nodev", "exec", "suid"}},
	} {
		m, err := parseTmpfs(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if m.Type != "tmpfs" || m.Destination != "/run" {
			t.Errorf("%s: %+v", tt.in, m)
		}
		if diff := cmp.Diff(tt.want, m.Options); diff != "" {
			t.Errorf("%s options (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{"run", "/", "/x:bogus", "/x:size", "/x:exec=1"} {
		if _, err := parseTmpfs(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("parseTmpfs(%q) = %v, want invalid argument", bad, err)
		}
	}
}

func TestParseDevice(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want DeviceMapping
	}{
		{"/dev/fuse", DeviceMapping{"/dev/fuse", "/dev/fuse", "rwm"}},
		{"/dev/fuse:r", DeviceMapping{"/dev/fuse", "/dev/fuse", "r"}},
		{"/dev/fuse:/dev/f", DeviceMapping{"/dev/fuse", "/dev/f", "rwm"}},
		{"/dev/fuse:/dev/f:mw", DeviceMapping{"/dev/fuse", "/dev/f", "mw"}},
	} {
		got, err := ParseDevice(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "dev/null", "/dev/null:x:y:z", "/dev/null:/x:rwx", "/dev/null:/x:rr", "/dev/null:rel"} {
		if _, err := ParseDevice(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseDevice(%q) = %v, want invalid argument", bad, err)
		}
	}
}

func TestSecurityCheck(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile.json")
	os.WriteFile(profile, []byte(`{
	  "defaultAction": "SCMP_ACT_ALLOW",
	  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
	}`), 0o644)
	notJSON := filepath.Join(dir, "not.json")
	os.WriteFile(notJSON, []byte("defaultAction: allow\n"), 0o644)

	s := Security{SecurityOpt: []string{"seccomp=" + profile, "no-new-privileges", "label=disable", "apparmor=unconfined"}}
	if err := s.Check(""); err != nil {
		t.Fatal(err)
	}
	if want := `seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`; s.SecurityOpt[0] != want {
		t.Errorf("seccomp option kept as %q, want the compact profile %q", s.SecurityOpt[0], want)
	}
	if err := s.Check(""); err != nil { // a checked record checks again
		t.Errorf("second check: %v", err)
	}

	for _, tt := range []struct {
		name string
		s    Security
		want string
	}{
		{"seccomp not JSON", Security{SecurityOpt: []string{"seccomp=" + notJSON}}, "not JSON"},
		{"seccomp missing", Security{SecurityOpt: []string{"seccomp=" + filepath.Join(dir, "none")}}, "no such file"},
		{"named apparmor profile", Security{SecurityOpt: []string{"apparmor=docker-default"}}, "only apparmor=unconfined"},
		{"selinux label", Security{SecurityOpt: []string{"label=type:svirt_t"}}, "only label=disable"},
		{"unknown option", Security{SecurityOpt: []string{"bogus=1"}}, "want seccomp=unconfined|FILE"},
		{"no-new-privileges value", Security{SecurityOpt: []string{"no-new-privileges=maybe"}}, "no-new-privileges=false"},
		{"cap", Security{CapAdd: []string{"BOGUS"}}, `--cap-add "BOGUS": unknown capability`},
		{"device missing", Security{Devices: []string{"/nonexistent"}}, `--device "/nonexistent"`},
		{"device not a device", Security{Devices: []string{profile}}, "not a character or block device"},
		{"sysctl", Security{Sysctls: map[string]string{"kernel.hostname_bogus": "1"}}, "kernel.hostname_bogus: not a namespaced sysctl"},
		{"group", Security{GroupAdd: []string{"a:b"}}, "want a group name or number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Check("")
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want an invalid argument saying %q", err, tt.want)
			}
		})
	}
}

// A profile file in docker's format with its conditional rules (docker's
// own default.json) gives the same filter as the built-in default.
func TestSeccompDockerProfileFile(t *testing.T) {
	body, err := json.Marshal(seccomp.DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "default.json")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	root := testRootfs(t)
	for _, caps := range [][]string{nil, {"SYS_ADMIN", "SYS_PTRACE"}} {
		file := Security{CapAdd: caps, SecurityOpt: []string{"seccomp=" + p}}
		if err := file.Check(""); err != nil {
			t.Fatal(err)
		}
		a, err := Spec(SpecOptions{Rootfs: root, Args: []string{"sh"}, Security: file})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Spec(SpecOptions{Rootfs: root, Args: []string{"sh"}, Security: Security{CapAdd: caps}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(b.Linux.Seccomp, a.Linux.Seccomp); diff != "" {
			t.Errorf("caps %v: docker's default.json as a file differs from the default (-default +file):\n%s", caps, diff)
		}
	}
}

func TestSpecSecurity(t *testing.T) {
	root := testRootfs(t)
	spec := func(t *testing.T, s Security, nnp bool) *specs.Spec {
		t.Helper()
		if err := s.Check(""); err != nil {
			t.Fatal(err)
		}
		sp, err := Spec(SpecOptions{Rootfs: root, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, User: "app", Security: s, NoNewPrivileges: nnp})
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	t.Run("default", func(t *testing.T) {
		sp := spec(t, Security{}, false)
		if sp.Process.NoNewPrivileges {
			t.Error("no-new-privileges on by default")
		}
		// docker's allow list: EPERM for what it does not name,
		// personality only with its personas.
		sc := sp.Linux.Seccomp
		if sc.DefaultAction != specs.ActErrno {
			t.Errorf("default action %s", sc.DefaultAction)
		}
		allowed := map[string]bool{}
		var persona []uint64
		for _, c := range sc.Syscalls {
			for _, n := range c.Names {
				if c.Action == specs.ActAllow && len(c.Args) == 0 {
					allowed[n] = true
				}
				if n == "personality" {
					persona = append(persona, c.Args[0].Value)
				}
			}
		}
		for _, n := range []string{"read", "openat", "execve", "setuid"} {
			if !allowed[n] {
				t.Errorf("%s not allowed", n)
			}
		}
		for _, n := range []string{"mount", "unshare", "reboot", "kexec_load", "bpf", "personality"} {
			if allowed[n] {
				t.Errorf("%s allowed without the capability", n)
			}
		}
		if diff := cmp.Diff([]uint64{0, 8, 0x20000, 0x20008, 0xffffffff}, persona); diff != "" {
			t.Errorf("personality personas (-want +got):\n%s", diff)
		}
		if len(sp.Linux.MaskedPaths) == 0 || len(sp.Linux.ReadonlyPaths) == 0 {
			t.Error("no masked or read-only paths")
		}
		// Docker's sysctls in a network namespace of the container's own.
		want := map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}
		if diff := cmp.Diff(want, sp.Linux.Sysctl); diff != "" {
			t.Errorf("sysctls (-want +got):\n%s", diff)
		}
		host, err := Spec(SpecOptions{Rootfs: root, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, Network: "host"})
		if err != nil || host.Linux.Sysctl != nil {
			t.Errorf("--network host: sysctls %v, %v", host.Linux.Sysctl, err)
		}
	})
	t.Run("engine default no-new-privileges, and the option over it", func(t *testing.T) {
		if !spec(t, Security{}, true).Process.NoNewPrivileges {
			t.Error("engine default not applied")
		}
		if spec(t, Security{SecurityOpt: []string{"no-new-privileges=false"}}, true).Process.NoNewPrivileges {
			t.Error("no-new-privileges=false did not win over the engine default")
		}
		if !spec(t, Security{SecurityOpt: []string{"no-new-privileges:true"}}, false).Process.NoNewPrivileges {
			t.Error("no-new-privileges:true not applied")
		}
	})
	t.Run("cap-add SYS_ADMIN allows mount", func(t *testing.T) {
		sp := spec(t, Security{CapAdd: []string{"sys_admin"}}, false)
		found := false
		for _, c := range sp.Linux.Seccomp.Syscalls {
			found = found || (c.Action == specs.ActAllow && slices.Contains(c.Names, "mount"))
		}
		if !found || !slices.Contains(sp.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
			t.Errorf("mount allowed %v, caps %v", found, sp.Process.Capabilities.Bounding)
		}
	})
	t.Run("privileged", func(t *testing.T) {
		sp := spec(t, Security{Privileged: true}, false)
		if sp.Linux.Seccomp != nil || sp.Linux.MaskedPaths != nil || sp.Linux.ReadonlyPaths != nil {
			t.Errorf("seccomp %v, masked %v, read-only %v", sp.Linux.Seccomp != nil, sp.Linux.MaskedPaths, sp.Linux.ReadonlyPaths)
		}
		if diff := cmp.Diff(allCapabilities(), sp.Process.Capabilities.Effective); diff != "" {
			t.Errorf("caps (-want +got):\n%s", diff)
		}
		for _, m := range sp.Mounts {
			if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
				t.Errorf("%s read-only", m.Destination)
			}
		}
		if r := sp.Linux.Resources.Devices; len(r) != 1 || !r[0].Allow || r[0].Type != "" {
			t.Errorf("device cgroup %+v, want all allowed", r)
		}
		hasNull := false
		for _, d := range sp.Linux.Devices {
			hasNull = hasNull || d.Path == "/dev/null"
		}
		if !hasNull {
			t.Error("no host devices")
		}
	})
	t.Run("custom profile, devices, groups, tmpfs, sysctls", func(t *testing.T) {
		s := Security{
			SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`},
			Devices:     []string{"/dev/null:/dev/mynull:r"},
			GroupAdd:    []string{"wheel", "4242"},
			Tmpfs:       []string{"/scratch:size=1m"},
			Sysctls:     map[string]string{"net.ipv4.ip_forward": "1"},
		}
		sp := spec(t, s, false)
		if sc := sp.Linux.Seccomp; sc.DefaultAction != specs.ActAllow || len(sc.Syscalls) != 1 {
			t.Errorf("custom seccomp %+v", sc)
		}
		if d := sp.Linux.Devices; len(d) != 1 || d[0].Path != "/dev/mynull" || d[0].Type != "c" || d[0].Major != 1 || d[0].Minor != 3 {
			t.Errorf("devices %+v", d)
		}
		r := sp.Linux.Resources.Devices
		if last := r[len(r)-1]; !last.Allow || last.Access != "r" || *last.Major != 1 || *last.Minor != 3 {
			t.Errorf("device rule %+v", last)
		}
		if diff := cmp.Diff([]uint32{50, 10, 4242}, sp.Process.User.AdditionalGids); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
		found := false
		for _, m := range sp.Mounts {
			found = found || (m.Destination == "/scratch" && m.Type == "tmpfs")
		}
		if !found || sp.Linux.Sysctl["net.ipv4.ip_forward"] != "1" || sp.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
			t.Errorf("tmpfs %v, sysctls %v", found, sp.Linux.Sysctl)
		}
	})
	t.Run("unknown group name", func(t *testing.T) {
		_, err := Spec(SpecOptions{Rootfs: root, Config: ocispec.ImageConfig{Cmd: []string{"sh"}}, Security: Security{GroupAdd: []string{"ghosts"}}})
		if err == nil || !strings.Contains(err.Error(), `--group-add "ghosts"`) {
			t.Errorf("got %v", err)
		}
	})
}

// FuzzParseDevice: what parses has absolute paths and rwm permissions,
// and its HOST:CONTAINER:PERMS form parses back to the same.
func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"/dev/fuse", "/dev/fuse:r", "/dev/a:/dev/b:rw", "x", "/a:b:c:d", "/a::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := ParseDevice(v)
		if err != nil {
			return
		}
		if !filepath.IsAbs(d.PathOnHost) || !filepath.IsAbs(d.PathInContainer) || !validDevicePerms(d.CgroupPermissions) {
			t.Fatalf("%q parsed to %+v", v, d)
		}
		back, err := ParseDevice(d.PathOnHost + ":" + d.PathInContainer + ":" + d.CgroupPermissions)
		if err != nil || back != d {
			t.Fatalf("%q → %+v → %+v, %v", v, d, back, err)
		}
	})
}

// FuzzParseTmpfs: what parses is a tmpfs at an absolute path other than
// /, and keeps docker's nosuid, nodev and noexec unless suid, dev and exec
// were asked for.
func FuzzParseTmpfs(f *testing.F) {
	for _, s := range []string{"/run", "/run:size=64m,mode=1777", "/x:exec", "/:rw", "rel", "/x:size"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseTmpfs(v)
		if err != nil {
			return
		}
		if m.Type != "tmpfs" || !filepath.IsAbs(m.Destination) || m.Destination == "/" {
			t.Fatalf("%q parsed to %+v", v, m)
		}
		_, opts, _ := strings.Cut(v, ":")
		asked := strings.Split(opts, ",")
		for on, off := range map[string]string{"suid": "nosuid", "dev": "nodev", "exec": "noexec"} {
			if !slices.Contains(asked, on) && !slices.Contains(m.Options, off) {
				t.Fatalf("%q lost %s: %v", v, off, m.Options)
			}
		}
	})
}

// FuzzSecurityOpts: an option that parses is one of the accepted keys,
// and no input panics.
func FuzzSecurityOpts(f *testing.F) {
	for _, s := range []string{"seccomp=unconfined", "no-new-privileges", "no-new-privileges:false", "label=disable", "apparmor=x", "=", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		o, err := parseSecurityOpts([]string{v})
		if err != nil {
			return
		}
		key, _, _ := strings.Cut(strings.Replace(v, ":", "=", 1), "=")
		if !slices.Contains([]string{"seccomp", "no-new-privileges", "label", "apparmor", "systempaths"}, key) {
			t.Fatalf("%q accepted: %+v", v, o)
		}
	})
}
