package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// health is inspect's State.Health.
type health struct {
	Status        string
	FailingStreak int
	Log           []struct{ ExitCode int }
}

func inspectHealth(t *testing.T, root, name string) health {
	t.Helper()
	var h health
	out := inspectF(t, root, "{{json .State.Health}}", name)
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("State.Health %q: %v", out, err)
	}
	return h
}

// TestHealthcheck: the monitor probes --health-cmd by exec: "starting" while
// failures fall in the start period, healthy once a probe passes, unhealthy
// after --health-retries failures in a row; ps shows it in STATUS and
// filters on it; inspect keeps the last five results; stop leaves it
// unhealthy, as docker's.
func TestHealthcheck(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "h", "--health-cmd", "test -e /ok", "--health-interval", "200ms",
		"--health-retries", "2", "--health-start-period", "10m", "--health-start-interval", "200ms", "--health-timeout", "5s",
		"bb", "sleep", "600")
	testutil.WaitFor(t, "a failed probe", func() bool { return len(inspectHealth(t, root, "h").Log) > 0 })
	if h := inspectHealth(t, root, "h"); h.Status != "starting" || h.FailingStreak != 0 || h.Log[0].ExitCode != 1 {
		t.Errorf("in the start period: %+v, want starting, no streak, exit 1", h)
	}
	if st := mustStrata(t, root, "ps", "--format", "{{.Status}}"); !strings.Contains(st, "(health: starting)") {
		t.Errorf("ps STATUS %q", st)
	}
	mustStrata(t, root, "exec", "h", "touch", "/ok")
	testutil.WaitFor(t, "healthy", func() bool { return inspectHealth(t, root, "h").Status == "healthy" })
	if st := mustStrata(t, root, "ps", "--format", "{{.Status}}"); !strings.HasPrefix(st, "Up ") || !strings.HasSuffix(st, " (healthy)\n") {
		t.Errorf("ps STATUS %q, want Up … (healthy)", st)
	}
	if got := mustStrata(t, root, "ps", "-q", "--filter", "health=healthy"); got == "" {
		t.Errorf("ps --filter health=healthy lists nothing")
	}
	mustStrata(t, root, "exec", "h", "rm", "/ok")
	testutil.WaitFor(t, "unhealthy", func() bool { return inspectHealth(t, root, "h").Status == "unhealthy" })
	h := inspectHealth(t, root, "h")
	if h.FailingStreak < 2 {
		t.Errorf("unhealthy with a streak of %d, want >= 2 retries", h.FailingStreak)
	}
	testutil.WaitFor(t, "five results", func() bool { return len(inspectHealth(t, root, "h").Log) == 5 })
	if got := mustStrata(t, root, "ps", "-q", "--filter", "health=unhealthy"); got == "" {
		t.Errorf("ps --filter health=unhealthy lists nothing")
	}
	if got := mustStrata(t, root, "ps", "-q", "--filter", "health=healthy"); got != "" {
		t.Errorf("ps --filter health=healthy lists %q", got)
	}
	jsonEq(t, "Config.Healthcheck", inspectF(t, root, "{{json .Config.Healthcheck}}", "h"), `{"Test":["CMD-SHELL","test -e /ok"],"Interval":200000000,"Timeout":5000000000,"StartPeriod":600000000000,"StartInterval":200000000,"Retries":2}`)
	mustStrata(t, root, "exec", "h", "touch", "/ok")
	testutil.WaitFor(t, "healthy again", func() bool { return inspectHealth(t, root, "h").Status == "healthy" })
	mustStrata(t, root, "stop", "-t", "0", "h")
	if h := inspectHealth(t, root, "h"); h.Status != "unhealthy" {
		t.Errorf("after stop: %+v, want unhealthy as docker", h)
	}
}

// TestHealthcheckFromImage: the image's HEALTHCHECK runs, --health-* flags
// go over it field by field, and --no-healthcheck turns it off.
func TestHealthcheckFromImage(t *testing.T) {
	root := containerRoot(t)
	ctx := t.TempDir()
	writeDockerfile(t, ctx, "FROM bb\nHEALTHCHECK --interval=200ms --retries=1 CMD [\"false\"]\n")
	mustStrata(t, root, "build", "-q", "-t", "hc", ctx)
	mustStrata(t, root, "run", "-d", "--name", "img", "hc", "sleep", "600")
	testutil.WaitFor(t, "unhealthy from the image's check", func() bool { return inspectHealth(t, root, "img").Status == "unhealthy" })
	mustStrata(t, root, "run", "-d", "--name", "flag", "--health-cmd", "true", "hc", "sleep", "600")
	testutil.WaitFor(t, "healthy from the flag's command", func() bool { return inspectHealth(t, root, "flag").Status == "healthy" })
	jsonEq(t, "merged Config.Healthcheck", inspectF(t, root, "{{json .Config.Healthcheck}}", "flag"), `{"Test":["CMD-SHELL","true"],"Interval":200000000,"Retries":1}`)
	mustStrata(t, root, "run", "-d", "--name", "off", "--no-healthcheck", "hc", "sleep", "600")
	// docker's daemon merges the image's other fields under NONE too.
	jsonEq(t, "--no-healthcheck Config.Healthcheck", inspectF(t, root, "{{json .Config.Healthcheck}}", "off"), `{"Test":["NONE"],"Interval":200000000,"Retries":1}`)
	if got := inspectF(t, root, "{{json .State.Health}}", "off"); got != "null" {
		t.Errorf("--no-healthcheck State.Health: %s", got)
	}
	if st := mustStrata(t, root, "ps", "--filter", "name=off", "--format", "{{.Status}}"); strings.Contains(st, "(") {
		t.Errorf("ps STATUS of a container without checks: %q", st)
	}
	if got := mustStrata(t, root, "ps", "-q", "--filter", "health=none"); strings.Count(got, "\n") != 1 {
		t.Errorf("ps --filter health=none: %q", got)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--health-interval", "-1s"}, "invalid --health-interval -1s"},
		{[]string{"--health-timeout", "10us"}, "invalid --health-timeout 10µs"},
		{[]string{"--health-retries", "-2"}, "invalid --health-retries -2"},
		{[]string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck conflicts with --health-* options"},
		{[]string{"--health-interval", "soon"}, `invalid argument "soon" for "--health-interval"`},
	} {
		args := append(append([]string{"run", "-d"}, tt.args...), "hc", "true")
		if r := strata(t, root, args...); r.code != 125 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, %q; want 125 and %q", args, r.code, r.stderr, tt.want)
		}
	}
	if got := strings.Fields(mustStrata(t, root, "ps", "-aq")); len(got) != 3 {
		t.Errorf("bad health flags left containers: %v", got)
	}
	if r := strata(t, root, "ps", "--filter", "bogus=1"); r.code != 1 || !strings.Contains(r.stderr, "invalid filter 'bogus'") {
		t.Errorf("ps --filter bogus=1: exit %d, %q", r.code, r.stderr)
	}
	if r := strata(t, root, "ps", "--filter", "health=ok"); r.code != 1 || !strings.Contains(r.stderr, "invalid filter 'health=ok'") {
		t.Errorf("ps --filter health=ok: exit %d, %q", r.code, r.stderr)
	}
}

// TestHealthShapesAsDocker compares the JSON shapes of inspect's
// State.Health, Config.Healthcheck, Config.Labels and HostConfig.LogConfig
// with dockerd's for the same flags.
func TestHealthShapesAsDocker(t *testing.T) {
	host := os.Getenv("STRATA_TEST_DOCKER_HOST")
	if host == "" {
		t.Skip("skipping: set STRATA_TEST_DOCKER_HOST=unix:///run/....sock (scripts/test.sh starts a dockerd and sets it)")
	}
	root := containerRoot(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	mustStrata(t, root, "create", "--name", "src", "bb", "true")
	mustStrata(t, root, "export", "-o", rootfs, "src")
	mustStrata(t, root, "rm", "src")
	docker := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("/usr/bin/docker", append([]string{"-H", host}, args...)...).Output()
		if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	img := "strata-health-shapes:" + filepath.Base(t.TempDir())
	docker("import", rootfs, img)
	t.Cleanup(func() { exec.Command("/usr/bin/docker", "-H", host, "rmi", "-f", img).Run() })
	flags := []string{"-d", "--health-cmd", "true", "--health-interval", "200ms", "-l", "a=b", "--log-opt", "max-size=1k"}
	id := docker(append(append([]string{"run"}, flags...), img, "sleep", "600")...)
	t.Cleanup(func() { exec.Command("/usr/bin/docker", "-H", host, "rm", "-f", id).Run() })
	mustStrata(t, root, append(append([]string{"run", "--name", "s"}, flags...), "bb", "sleep", "600")...)
	testutil.WaitFor(t, "docker's healthy", func() bool {
		return strings.Contains(docker("inspect", "--format", "{{.State.Health.Status}}", id), "healthy")
	})
	testutil.WaitFor(t, "strata's healthy", func() bool { return inspectHealth(t, root, "s").Status == "healthy" })
	for _, f := range []string{"{{json .State.Health}}", "{{json .Config.Healthcheck}}", "{{json .Config.Labels}}", "{{json .HostConfig.LogConfig}}"} {
		want, got := shape(t, docker("inspect", "--format", f, id)), shape(t, inspectF(t, root, f, "s"))
		if !slices.Equal(want, got) {
			t.Errorf("%s: docker's shape %v, strata's %v", f, want, got)
		}
	}
}

// jsonEq compares two JSON documents as values.
func jsonEq(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// shape is the sorted paths and JSON kinds of a document's fields (array
// elements as []), values left out.
func shape(t *testing.T, doc string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%q: %v", doc, err)
	}
	seen := map[string]bool{}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			seen[p+":object"] = true
			for k, e := range x {
				walk(p+"."+k, e)
			}
		case []any:
			seen[p+":array"] = true
			for _, e := range x {
				walk(p+"[]", e)
			}
		case string:
			seen[p+":string"] = true
		case float64:
			seen[p+":number"] = true
		case bool:
			seen[p+":bool"] = true
		default:
			seen[p+":null"] = true
		}
	}
	walk("", v)
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
