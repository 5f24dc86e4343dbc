package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/testutil"
)

// limitFlags are the resource flags the tests below give run and create.
var limitFlags = []string{
	"-m", "64m", "--memory-reservation", "32m", "--cpus", "0.5", "--cpu-shares", "512",
	"--cpuset-cpus", "0", "--pids-limit", "64", "--ulimit", "nofile=100:200", "--shm-size", "128m",
}

// hostConfigLimits is the resource part of inspect's HostConfig, through
// a template, in docker's names and units.
const hostConfigLimits = `{"Memory":{{json .HostConfig.Memory}},"MemorySwap":{{json .HostConfig.MemorySwap}},` +
	`"MemoryReservation":{{json .HostConfig.MemoryReservation}},"NanoCpus":{{json .HostConfig.NanoCpus}},` +
	`"CpuShares":{{json .HostConfig.CpuShares}},"CpusetCpus":{{json .HostConfig.CpusetCpus}},` +
	`"PidsLimit":{{json .HostConfig.PidsLimit}},"Ulimits":{{json .HostConfig.Ulimits}},` +
	`"ShmSize":{{json .HostConfig.ShmSize}},"OomKillDisable":{{json .HostConfig.OomKillDisable}},` +
	`"OOMKilled":{{json .State.OOMKilled}}}`

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %q", err, s)
	}
	return m
}

// Bad resource values: one line naming the value and what is accepted,
// exit 125, and no container made.
func TestResourceFlagsBadInput(t *testing.T) {
	u := newUser(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", rootfs, "bb:1")
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--memory", "12zz"}, `invalid argument "12zz" for --memory: want a size`},
		{[]string{"--cpus", "-1"}, "--cpus -1: want a number of CPUs from 0.01 to"},
		{[]string{"--ulimit", "bogus"}, `invalid argument "bogus" for --ulimit: want NAME=SOFT[:HARD]`},
		{[]string{"--cpus", "0.0000000001"}, "at most 9 decimal places"},
		{[]string{"-m", "64m", "--memory-swap", "10m"}, "--memory-swap 10MiB: want at least --memory (64MiB)"},
		{[]string{"--pids-limit", "lots"}, `invalid argument "lots" for --pids-limit`},
	} {
		for _, verb := range []string{"run", "create"} {
			args := append(append([]string{verb}, tt.flags...), "bb:1", "true")
			r := u.run(t, nil, args...)
			stderr := strings.TrimRight(r.stderr, "\n")
			if r.code != 125 || strings.Contains(stderr, "\n") || !strings.HasPrefix(stderr, "Error: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("want exit 125 and one line saying %q, got %v", tt.want, r)
			}
		}
	}
	if r := u.ok(t, "ps", "-aq"); r.stdout != "" {
		t.Errorf("refused runs left containers:\n%s", r.stdout)
	}
}

// inspect shows the limits in docker's HostConfig shape; stats prints a
// sane row for the running container, as a table and as JSON (NET I/O
// counts the default network's traffic, so any size), update
// changes them on the running container.
func TestResourceLimitsInspectStatsUpdate(t *testing.T) {
	u := newUser(t)
	requiresRunc(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", rootfs, "bb:1")
	u.ok(t, append(append([]string{"run", "-d", "--name", "lim"}, limitFlags...), "bb:1", "sleep", "1000")...)
	t.Cleanup(func() { u.run(t, nil, "rm", "-f", "lim") })

	got := decodeJSON(t, u.inspect(t, hostConfigLimits, "lim"))
	want := decodeJSON(t, `{"Memory":67108864,"MemorySwap":134217728,"MemoryReservation":33554432,"NanoCpus":500000000,`+
		`"CpuShares":512,"CpusetCpus":"0","PidsLimit":64,"Ulimits":[{"Name":"nofile","Hard":200,"Soft":100}],`+
		`"ShmSize":134217728,"OomKillDisable":false,"OOMKilled":false}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inspect (-want +got):\n%s", diff)
	}

	r := u.ok(t, "stats", "--no-stream")
	rows := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	header := regexp.MustCompile(`^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$`)
	row := regexp.MustCompile(`^[0-9a-f]{12} +lim +\d+\.\d\d% +[\d.]+[KM]iB / 64MiB +\d+\.\d\d% +[\d.]+k?B / [\d.]+k?B +[\d.]+k?B / [\d.]+k?B +1$`)
	if len(rows) != 2 || !header.MatchString(rows[0]) || !row.MatchString(rows[1]) {
		t.Errorf("stats --no-stream:\n%s", r.stdout)
	}
	js := decodeJSON(t, u.ok(t, "stats", "--no-stream", "--format", "json", "lim").stdout)
	if js["Name"] != "lim" || js["Container"] != "lim" || js["PIDs"] != "1" || !strings.HasSuffix(js["MemUsage"].(string), " / 64MiB") {
		t.Errorf("stats --format json: %v", js)
	}
	if r := u.ok(t, "stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}}", "lim"); r.stdout != "lim: 1\n" {
		t.Errorf("stats --format template printed %q", r.stdout)
	}

	// A container that is not running has a row of zeros, as in docker;
	// -a lists it, the default does not.
	u.ok(t, "create", "--name", "idle", "bb:1", "true")
	if r := u.ok(t, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", "idle"); r.stdout != "idle 0.00% 0B / 0B 0\n" {
		t.Errorf("stats of a created container: %q", r.stdout)
	}
	if r := u.ok(t, "stats", "-a", "--no-stream", "--format", "{{.Name}}"); len(lines(r.stdout, "^(idle|lim)$")) != 2 {
		t.Errorf("stats -a lists %q, want idle and lim", r.stdout)
	}
	if r := u.ok(t, "stats", "--no-stream", "--format", "{{.Name}}"); r.stdout != "lim\n" {
		t.Errorf("stats lists %q, want only the running lim", r.stdout)
	}

	u.ok(t, "update", "--memory", "128m", "--memory-swap", "256m", "--cpus", "1.5", "--pids-limit", "-1", "lim")
	if got := u.inspect(t, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{json .HostConfig.PidsLimit}}", "lim"); got != "134217728 268435456 1500000000 null" {
		t.Errorf("inspect after update: %s", got)
	}
	js = decodeJSON(t, u.ok(t, "stats", "--no-stream", "--format", "json", "lim").stdout)
	if !strings.HasSuffix(js["MemUsage"].(string), " / 128MiB") {
		t.Errorf("stats after update --memory 128m: %v", js["MemUsage"])
	}
	r = u.run(t, nil, "update", "--memory", "1g", "lim")
	if r.code != 1 || !strings.Contains(r.stderr, "give --memory-swap as well") {
		t.Errorf("update past the swap limit: %v", r)
	}
}

// Strata's inspect shows the same HostConfig values as docker's for the
// same flags.
func TestResourceLimitsInspectLikeDocker(t *testing.T) {
	u := newUser(t)
	docker := dockerCLI(t)
	const name = "strata-e2e/limits:v1"
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", "--change", `CMD ["/bin/sh"]`, rootfs, name)
	saved := filepath.Join(t.TempDir(), "img.tar")
	u.ok(t, "save", "-o", saved, name)
	if _, err := docker("load", "-i", saved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker("rmi", "-f", name) })
	for _, flags := range [][]string{limitFlags, nil, {"-m", "32m", "--memory-swap", "-1", "--pids-limit", "0"}} {
		id, err := docker(append(append([]string{"create"}, flags...), name, "true")...)
		if err != nil {
			t.Fatal(err)
		}
		id = strings.TrimSpace(id)
		out, err := docker("inspect", "--format", hostConfigLimits, id)
		docker("rm", "-f", id)
		if err != nil {
			t.Fatal(err)
		}
		sid := strings.TrimSpace(u.ok(t, append(append([]string{"create"}, flags...), name, "true")...).stdout)
		got := decodeJSON(t, u.inspect(t, hostConfigLimits, sid))
		if diff := cmp.Diff(decodeJSON(t, out), got); diff != "" {
			t.Errorf("flags %q: inspect (-docker +strata):\n%s", flags, diff)
		}
	}
}

// An attached run (the CLI is the monitor) past --memory 64m ends as
// docker's: exit 137, and inspect says OOMKilled.
func TestMemoryLimitAttachedRunOOMKilled(t *testing.T) {
	u := newUser(t)
	requiresRunc(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", rootfs, "bb:1")
	r := u.run(t, nil, "run", "--name", "hog", "-m", "64m", "bb:1", "sh", "-c", `x=$(head -c 300000000 /dev/zero | tr '\0' a); echo survived`)
	if r.code != 137 || strings.Contains(r.stdout, "survived") {
		t.Errorf("want exit 137, got %v", r)
	}
	if got := u.inspect(t, "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"); got != "true 137" {
		t.Errorf("inspect: OOMKilled and exit code %q, want true 137", got)
	}
}
