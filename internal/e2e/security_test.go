package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/testutil"
)

// postureProbe prints what a container may do: its capability sets,
// no-new-privileges and seccomp mode from /proc/self/status, then the exit
// status of calls that capabilities or the seccomp profile gate, and the
// errno of calls the profile gates by argument or does not know. None
// changes anything outside the container's own namespaces, even
// privileged.
const postureProbe = `grep -E '^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
p() { n=$1; shift; "$@" >/dev/null 2>&1; echo "$n=$?"; }
touch /tmp/f
p unshare unshare -n true
p mount mount -t tmpfs t /root
p hostname hostname probe
p ip-link ip link set lo mtu 1400
p ping ping -c1 -W2 127.0.0.1
p chown chown 1 /tmp/f
p mknod mknod /tmp/n c 1 3
p chroot chroot / true
p renice renice -n -5 $$
p ionice-rt ionice -c1 true
p dmesg dmesg
p linux32 linux32 true
p linux64 linux64 true
p mkdir mkdir /tmp/d
p mynull-char test -c /dev/mynull
p mynull-read head -c1 /dev/mynull
p mynull-write sh -c 'echo x > /dev/mynull'
echo groups=$(id -G)
echo port-start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
echo ping-range=$(cat /proc/sys/net/ipv4/ping_group_range)
echo shmmni=$(cat /proc/sys/kernel/shmmni)
echo tmp-mount=$(awk '$2=="/tmp" {print $3, $4}' /proc/mounts)
/probe syscalls
`

// gatedProbes are the probes of postureProbe that a capability or the
// seccomp profile gates, all allowed in a privileged container.
var gatedProbes = []string{"unshare", "mount", "hostname", "ip-link", "ping", "chown", "mknod", "chroot", "renice", "ionice-rt", "dmesg", "linux32", "linux64", "mkdir"}

// customSeccomp allows everything but mkdir, which fails with EACCES.
const customSeccomp = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}`

// securityImage imports a busybox root filesystem as name, with /probe
// (testdata/probe), a static program, setuid root, that prints its real
// and effective uids or what some system calls return.
func securityImage(t *testing.T, u *user, name string) {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	probe := filepath.Join(rootfs, "probe")
	cmd := exec.Command("go", "build", "-o", probe, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build testdata/probe: %v\n%s", err, out)
	}
	if err := os.Chmod(probe, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	u.ok(t, "import", "--change", `CMD ["/bin/sh"]`, rootfs, name)
}

// sharedWithDocker loads strata's image name into the test's dockerd under
// a name of its own, removed at the end, and returns that name.
func sharedWithDocker(t *testing.T, u *user, docker func(...string) (string, error), name string) string {
	t.Helper()
	var rnd [4]byte
	rand.Read(rnd[:])
	theirs := "strata-e2e-security/" + hex.EncodeToString(rnd[:]) + ":1"
	saved := filepath.Join(t.TempDir(), "img.tar")
	u.ok(t, "tag", name, theirs)
	u.ok(t, "save", "-o", saved, theirs)
	if _, err := docker("load", "-i", saved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker("rmi", "-f", theirs) })
	return theirs
}

// TestSecurityPostureSameAsDocker runs the same probe in strata and docker
// containers with the same flags and wants the same capabilities,
// no-new-privileges, seccomp mode and the same calls allowed and refused.
func TestSecurityPostureSameAsDocker(t *testing.T) {
	docker := dockerCLI(t)
	u := newUser(t)
	requiresRunc(t)
	securityImage(t, u, "sec:1")
	img := sharedWithDocker(t, u, docker, "sec:1")
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(customSeccomp), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"default", nil},
		{"cap-drop ALL", []string{"--cap-drop", "ALL"}},
		{"cap-drop all, cap-add chown", []string{"--cap-drop", "all", "--cap-add", "chown"}},
		{"cap-add NET_ADMIN", []string{"--cap-add", "NET_ADMIN"}},
		{"cap-add CAP_SYS_ADMIN", []string{"--cap-add", "CAP_SYS_ADMIN"}},
		{"privileged", []string{"--privileged"}},
		{"no-new-privileges", []string{"--security-opt", "no-new-privileges"}},
		{"seccomp unconfined", []string{"--security-opt", "seccomp=unconfined"}},
		{"seccomp custom", []string{"--security-opt", "seccomp=" + profile}},
		{"read-only, tmpfs, group-add", []string{"--read-only", "--tmpfs", "/tmp:exec,size=1m", "--group-add", "50", "--group-add", "nogroup"}},
		{"device read-only", []string{"--device", "/dev/null:/dev/mynull:r"}},
		{"device", []string{"--device", "/dev/null:/dev/mynull"}},
		{"sysctls", []string{"--sysctl", "net.ipv4.ip_unprivileged_port_start=80", "--sysctl", "kernel.shmmni=1000"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"run", "--rm"}, tt.flags...), "IMAGE", "sh", "-c", postureProbe)
			args[len(tt.flags)+2] = "sec:1"
			mine := u.ok(t, args...).stdout
			args[len(tt.flags)+2] = img
			theirs, err := docker(append([]string{args[0], args[1], "--network", "none"}, args[2:]...)...)
			if err != nil && tt.name == "privileged" && strings.Contains(err.Error(), "unable to apply caps") {
				// dockerd asks runc for every capability it knows, more
				// than this host's bounding set holds; strata gives the
				// bounding set. Compare with what docker would give.
				t.Logf("docker cannot run --privileged on this host (runc: unable to apply caps); comparing with the host's bounding set")
				theirs = privilegedExpectation(t, mine)
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(theirs, mine); diff != "" {
				t.Errorf("strata run %s differs from docker's (-docker +strata):\n%s", strings.Join(tt.flags, " "), diff)
			}
			t.Logf("%s:\n%s", tt.name, mine)
		})
	}
}

// privilegedExpectation is docker's --privileged posture on a host where
// it runs: every capability of the bounding set, no seccomp, every probe
// command allowed and no call refused with EPERM (the calls' own errors
// taken from strata's run).
func privilegedExpectation(t *testing.T, mine string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	bnd := ""
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd = strings.TrimSpace(v)
		}
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(mine, "\n"), "\n") {
		k, _, _ := strings.Cut(l, ":")
		switch k {
		case "CapPrm", "CapEff", "CapBnd":
			l = k + ":\t" + bnd
		case "NoNewPrivs":
			l = k + ":\t0"
		case "Seccomp":
			l = k + ":\t0"
		default:
			name, v, ok := strings.Cut(l, "=")
			switch {
			case !ok:
			case v == "EPERM":
				l = name + "=not EPERM (no seccomp filter)"
			case slices.Contains(gatedProbes, name):
				l = name + "=0"
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// TestSetuidInContainer: a setuid-root binary run as another user gets
// euid 0 by default, as under docker, and not with no-new-privileges,
// given per container or engine-wide (environment or config.json).
func TestSetuidInContainer(t *testing.T) {
	u := newUser(t)
	requiresRunc(t)
	securityImage(t, u, "sec:1")
	const root, nobody = "uid=65534 euid=0\n", "uid=65534 euid=65534\n"
	run := func(env []string, flags ...string) string {
		t.Helper()
		args := append(append([]string{"run", "--rm", "--user", "65534"}, flags...), "sec:1", "/probe", "euid")
		u.env = env
		defer func() { u.env = nil }()
		return u.ok(t, args...).stdout
	}
	for _, tt := range []struct {
		name  string
		env   []string
		flags []string
		want  string
	}{
		{"default", nil, nil, root},
		{"no-new-privileges", nil, []string{"--security-opt", "no-new-privileges"}, nobody},
		{"no-new-privileges:true", nil, []string{"--security-opt", "no-new-privileges:true"}, nobody},
		{"no-new-privileges=false", nil, []string{"--security-opt", "no-new-privileges=false"}, root},
		{"engine default on", []string{"STRATA_NO_NEW_PRIVILEGES=true"}, nil, nobody},
		{"engine default on, container off", []string{"STRATA_NO_NEW_PRIVILEGES=1"}, []string{"--security-opt", "no-new-privileges=false"}, root},
	} {
		if got := run(tt.env, tt.flags...); got != tt.want {
			t.Errorf("%s: probe euid printed %q, want %q", tt.name, got, tt.want)
		}
	}
	if err := os.WriteFile(filepath.Join(u.root, "config.json"), []byte(`{"no-new-privileges": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := run(nil); got != nobody {
		t.Errorf("config.json no-new-privileges: probe euid printed %q, want %q", got, nobody)
	}
	if got := run([]string{"STRATA_NO_NEW_PRIVILEGES=false"}); got != root {
		t.Errorf("config.json overridden by the environment: probe euid printed %q, want %q", got, root)
	}
	if err := os.WriteFile(filepath.Join(u.root, "config.json"), []byte(`{"no-new-privilege": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	u.fails(t, nil, []string{"config.json", `unknown field "no-new-privilege"`}, "ps")
	if err := os.Remove(filepath.Join(u.root, "config.json")); err != nil {
		t.Fatal(err)
	}

	if docker := dockerCLIOrNil(); docker != nil {
		img := sharedWithDocker(t, u, docker, "sec:1")
		for flags, want := range map[string]string{"": root, "--security-opt=no-new-privileges": nobody} {
			args := []string{"run", "--rm", "--network", "none", "--user", "65534"}
			if flags != "" {
				args = append(args, flags)
			}
			out, err := docker(append(args, img, "/probe", "euid")...)
			if err != nil || out != want {
				t.Errorf("docker run %s: %q, %v; want %q as strata", flags, out, err, want)
			}
		}
	}
}

// dockerCLIOrNil is dockerCLI for a test that compares with docker only
// where a dockerd runs.
func dockerCLIOrNil() func(args ...string) (string, error) {
	host := os.Getenv("STRATA_TEST_DOCKER_HOST")
	if _, err := os.Stat(dockerBin); err != nil || host == "" {
		return nil
	}
	return dockerAt(host)
}

// TestSecurityBadInput: a bad hardening flag fails run and create with
// exit 125 and one line naming the value and what is accepted, and
// creates nothing.
func TestSecurityBadInput(t *testing.T) {
	u := newUser(t)
	securityImage(t, u, "sec:1")
	notJSON := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(notJSON, []byte("defaultAction: SCMP_ACT_ALLOW\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--security-opt", "seccomp=" + notJSON}, []string{notJSON, "not JSON", "docker's seccomp profile format"}},
		{[]string{"--security-opt", "seccomp=/nonexistent.json"}, []string{"/nonexistent.json", "no such file"}},
		{[]string{"--security-opt", "apparmor=docker-default"}, []string{"apparmor=docker-default", "only apparmor=unconfined"}},
		{[]string{"--security-opt", "bogus"}, []string{`"bogus"`, "no-new-privileges[=true|false]"}},
		{[]string{"--cap-add", "BOGUS"}, []string{`--cap-add "BOGUS"`, "unknown capability", "want ALL or a capability"}},
		{[]string{"--cap-drop", "CAP_NOPE"}, []string{`--cap-drop "CAP_NOPE"`, "unknown capability"}},
		{[]string{"--sysctl", "kernel.hostname_bogus=1"}, []string{"kernel.hostname_bogus", "not a namespaced sysctl", "net.*"}},
		{[]string{"--sysctl", "vm.swappiness"}, []string{`"vm.swappiness"`, "KEY=VALUE"}},
		{[]string{"--network", "host", "--sysctl", "net.core.somaxconn=1"}, []string{"net.core.somaxconn", "--network host"}},
		{[]string{"--device", "/nonexistent"}, []string{`--device "/nonexistent"`, "no such file", "HOST[:CONTAINER[:PERMISSIONS]]"}},
		{[]string{"--device", "/dev/null:/dev/x:rwz"}, []string{"rwz", "rwm"}},
		{[]string{"--tmpfs", "/run:bogus"}, []string{`"bogus"`, "size="}},
		{[]string{"--tmpfs", "run"}, []string{`"run"`, "absolute"}},
	} {
		for _, verb := range []string{"run", "create"} {
			args := append(append([]string{verb}, tt.flags...), "sec:1", "true")
			r := u.run(t, nil, args...)
			if r.code != 125 {
				t.Errorf("want exit 125, got %v", r)
				continue
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			msg, ok := strings.CutPrefix(lines[0], "Error: ")
			if len(lines) != 1 || !ok {
				t.Errorf("stderr is not one \"Error: \" line: %v", r)
				continue
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("strata %s: %q does not say %q", strings.Join(args, " "), msg, w)
				}
			}
		}
	}
	if r := u.ok(t, "ps", "-aq"); r.stdout != "" {
		t.Errorf("bad flags left containers: %q", r.stdout)
	}
}

// TestSecurityInspect: inspect shows the hardening flags in HostConfig
// under docker's names and in docker's shapes.
func TestSecurityInspect(t *testing.T) {
	u := newUser(t)
	securityImage(t, u, "sec:1")
	flags := []string{
		"--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "chown",
		"--device", "/dev/null:/dev/mynull:r", "--group-add", "50", "--tmpfs", "/run:size=1m",
		"--sysctl", "net.ipv4.ip_forward=1", "--security-opt", "no-new-privileges", "--read-only",
	}
	fields := []string{"CapAdd", "CapDrop", "Privileged", "Devices", "GroupAdd", "Tmpfs", "Sysctls", "SecurityOpt", "ReadonlyRootfs"}
	var format []string
	for _, f := range fields {
		format = append(format, "{{json .HostConfig."+f+"}}")
	}
	// decode reads inspect's lines as JSON values, one per field.
	decode := func(out string) map[string]any {
		t.Helper()
		m := map[string]any{}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(fields) {
			t.Fatalf("inspect printed %q", out)
		}
		for i, l := range lines {
			var v any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("%s: %q: %v", fields[i], l, err)
			}
			m[fields[i]] = v
		}
		return m
	}
	id := strings.TrimSpace(u.ok(t, append(append([]string{"create"}, flags...), "sec:1", "true")...).stdout)
	mine := decode(u.ok(t, "inspect", "--format", strings.Join(format, "\n"), id).stdout)
	want := decode(strings.Join([]string{`["net_admin","CAP_SYS_TIME"]`, `["chown"]`, `false`,
		`[{"PathOnHost":"/dev/null","PathInContainer":"/dev/mynull","CgroupPermissions":"r"}]`, `["50"]`,
		`{"/run":"size=1m"}`, `{"net.ipv4.ip_forward":"1"}`, `["no-new-privileges"]`, `true`}, "\n"))
	if diff := cmp.Diff(want, mine); diff != "" {
		t.Errorf("inspect HostConfig (-want +got):\n%s", diff)
	}
	// The custom profile is kept, not the file's name.
	profile := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(profile, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"), 0o644)
	id = strings.TrimSpace(u.ok(t, "create", "--privileged", "--security-opt", "seccomp="+profile, "sec:1", "true").stdout)
	var got []string
	if err := json.Unmarshal([]byte(u.ok(t, "inspect", "--format", "{{json .HostConfig.SecurityOpt}}", id).stdout), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}, got); diff != "" {
		t.Errorf("SecurityOpt (-want +got):\n%s", diff)
	}
	if p := strings.TrimSpace(u.ok(t, "inspect", "--format", "{{.HostConfig.Privileged}}", id).stdout); p != "true" {
		t.Errorf("Privileged %s", p)
	}

	if docker := dockerCLIOrNil(); docker != nil {
		img := sharedWithDocker(t, u, docker, "sec:1")
		out, err := docker(append(append([]string{"create", "--network", "none"}, flags...), img, "true")...)
		if err != nil {
			t.Fatal(err)
		}
		did := strings.TrimSpace(out)
		defer docker("rm", "-f", did)
		out, err = docker("inspect", "--format", strings.Join(format, "\n"), did)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(decode(out), mine); diff != "" {
			t.Errorf("inspect HostConfig (-docker +strata):\n%s", diff)
		}
	}
}
