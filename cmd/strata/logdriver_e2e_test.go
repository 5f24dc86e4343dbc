package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// lineNumbers reads "line N" lines and fails unless they are consecutive
// and end at last.
func lineNumbers(t *testing.T, what, out string, last int) []int {
	t.Helper()
	var got []int
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		n, err := strconv.Atoi(strings.TrimPrefix(l, "line "))
		if err != nil {
			t.Fatalf("%s: line %q in\n%s", what, l, out)
		}
		if len(got) > 0 && n != got[len(got)-1]+1 {
			t.Fatalf("%s: %d after %d: out of order or a gap", what, n, got[len(got)-1])
		}
		got = append(got, n)
	}
	if len(got) == 0 || got[len(got)-1] != last {
		t.Fatalf("%s: lines %v, want them to end at %d", what, got, last)
	}
	return got
}

// TestLogRotation: --log-opt max-size=1k,max-file=3 keeps three files of
// about 1 kB (the live one and two rotated), logs reads them oldest first
// as one stream, --tail counts across them, and logs -f follows the log as
// it rotates without losing a line.
func TestLogRotation(t *testing.T) {
	root := containerRoot(t)
	script := "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"
	mustStrata(t, root, "run", "--name", "r", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "bb", "sh", "-c", script)
	logPath := inspectF(t, root, "{{.LogPath}}", "r")
	for i, p := range []string{logPath, logPath + ".1", logPath + ".2"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("file %d of the rotated log: %v", i, err)
		}
		if fi.Size() > 1000+200 {
			t.Errorf("%s is %d bytes, want about 1k", p, fi.Size())
		}
	}
	if _, err := os.Stat(logPath + ".3"); !os.IsNotExist(err) {
		t.Errorf("a fourth file is kept: %v", err)
	}
	got := lineNumbers(t, "logs", mustStrata(t, root, "logs", "r"), 299)
	if len(got) < 20 || len(got) > 60 {
		t.Errorf("logs kept %d lines of 300, want about three files' worth", len(got))
	}
	if tail := mustStrata(t, root, "logs", "--tail", "25", "r"); len(lineNumbers(t, "logs --tail 25", tail, 299)) != 25 {
		t.Errorf("logs --tail 25:\n%s", tail)
	}
	jsonEq(t, "HostConfig.LogConfig", inspectF(t, root, "{{json .HostConfig.LogConfig}}", "r"), `{"Type":"json-file","Config":{"max-file":"3","max-size":"1k"}}`)

	// Follow through rotations: 20 files hold every line, so none may be
	// missed however slowly the follower reads.
	mustStrata(t, root, "create", "--name", "f", "--log-opt", "max-size=1k", "--log-opt", "max-file=20", "bb", "sh", "-c",
		"i=0; while [ $i -lt 150 ]; do echo line $i; i=$((i+1)); usleep 5000; done")
	follow := exec.Command(strataBin, "--root", root, "logs", "-f", "f")
	var out strings.Builder
	follow.Stdout = &out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "start", "f")
	if err := follow.Wait(); err != nil {
		t.Fatalf("logs -f: %v", err)
	}
	if got := lineNumbers(t, "logs -f", out.String(), 149); got[0] != 0 {
		t.Errorf("logs -f began at line %d, want 0", got[0])
	}
	if files, _ := filepath.Glob(inspectF(t, root, "{{.LogPath}}", "f") + ".*"); len(files) < 5 {
		t.Errorf("the followed log rotated into %d files, want several", len(files))
	}
}

// TestLogDriverNone: --log-driver none keeps nothing (logs refuses, as
// docker's), an attached run still prints; bad drivers and options are
// refused with exit 125 and nothing made.
func TestLogDriverNone(t *testing.T) {
	root := containerRoot(t)
	if got := mustStrata(t, root, "run", "--name", "n", "--log-driver", "none", "bb", "echo", "hi"); got != "hi\n" {
		t.Errorf("attached run with --log-driver none printed %q", got)
	}
	if r := strata(t, root, "logs", "n"); r.code != 1 || !strings.Contains(r.stderr, "configured logging driver does not support reading") {
		t.Errorf("logs of a none container: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(inspectF(t, root, "{{.LogPath}}", "n")); !os.IsNotExist(err) {
		t.Errorf("--log-driver none wrote a log file: %v", err)
	}
	jsonEq(t, "HostConfig.LogConfig", inspectF(t, root, "{{json .HostConfig.LogConfig}}", "n"), `{"Type":"none","Config":{}}`)
	mustStrata(t, root, "rm", "n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-driver", "syslog"}, `invalid --log-driver "syslog": want json-file or none`},
		{[]string{"--log-opt", "max-size=lots"}, "invalid --log-opt max-size=lots"},
		{[]string{"--log-opt", "max-size=-1"}, "invalid --log-opt max-size=-1"},
		{[]string{"--log-opt", "max-file=0"}, "invalid --log-opt max-file=0"},
		{[]string{"--log-opt", "bogus=1"}, "unknown log opt 'bogus' for json-file log driver"},
		{[]string{"--log-driver", "none", "--log-opt", "max-size=1k"}, "unknown log opt 'max-size' for none log driver"},
		{[]string{"--log-opt", "max-size"}, `invalid --log-opt "max-size": want KEY=VALUE`},
		{[]string{"--log-opt", "compress=true"}, "invalid --log-opt compress=true"},
	} {
		for _, verb := range []string{"run", "create"} {
			args := append(append([]string{verb}, tt.args...), "bb", "true")
			r := strata(t, root, args...)
			if r.code != 125 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%v: exit %d, %q; want 125, one line with %q", args, r.code, r.stderr, tt.want)
			}
		}
	}
	if ids := mustStrata(t, root, "ps", "-aq"); ids != "" {
		t.Errorf("refused runs left containers: %s", ids)
	}
}
