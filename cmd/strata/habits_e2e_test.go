package main

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

// TestDockerUsageAnswers holds the command-line mistakes to the docker CLI's
// answers (issue #15's wrong answers): exit status, the one Error: line and
// docker's wording, without a container or an image.
func TestDockerUsageAnswers(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string // each must appear
		not    []string // none may appear
	}{
		{"unknown verb under image", []string{"image", "pul", "busybox"}, 1, []string{`Error: unknown command "pul" for "strata image"`, "See 'strata image --help'."}, nil},
		{"unknown verb under container", []string{"container", "nosuch"}, 1, []string{`unknown command "nosuch" for "strata container"`}, nil},
		{"unknown verb under system", []string{"system", "nosuch"}, 1, []string{`unknown command "nosuch" for "strata system"`}, nil},
		{"unknown verb under registry", []string{"registry", "nosuch"}, 1, []string{`unknown command "nosuch" for "strata registry"`}, nil},
		{"unknown verb under network", []string{"network", "nosuch"}, 1, []string{`unknown command "nosuch" for "strata network"`}, nil},
		{"unknown verb under volume", []string{"volume", "nosuch"}, 1, []string{`unknown command "nosuch" for "strata volume"`}, nil},
		{"unknown verb under builder", []string{"builder", "nosuch"}, 1, []string{`unknown command "nosuch" for "strata builder"`}, nil},
		{"unknown verb, no guesses", []string{"tpo"}, 1, []string{`unknown command "tpo" for "strata"`, "See 'strata --help'."}, []string{"Did you mean", "stop"}},
		{"run unknown flag", []string{"run", "--bogus", "x"}, 125, []string{"Error: unknown flag: --bogus\nSee 'strata run --help'.\n"}, nil},
		{"create unknown flag", []string{"create", "--bogus", "x"}, 125, []string{"unknown flag: --bogus\nSee 'strata create --help'."}, nil},
		{"ps unknown flag", []string{"ps", "--bogus"}, 125, []string{"See 'strata ps --help'."}, nil},
		{"run without image", []string{"run"}, 1, []string{"Error: \"strata run\" requires at least 1 argument.\nSee 'strata run --help'.\n\nUsage:  strata run [OPTIONS] IMAGE [COMMAND] [ARG...]\n"}, []string{"[flags]"}},
		{"cp with one argument", []string{"cp", "a"}, 1, []string{`"strata cp" requires exactly 2 arguments.`, "See 'strata cp --help'."}, nil},
		{"df with an argument", []string{"system", "df", "x"}, 1, []string{`"strata system df" accepts no arguments.`}, nil},
		{"run -it without a terminal", []string{"run", "-it", "--rm", "bb", "sh"}, 1, []string{"Error: the input device is not a TTY\n"}, nil},
		{"exec -it without a terminal", []string{"exec", "-it", "c", "sh"}, 1, []string{"Error: the input device is not a TTY\n"}, nil},
		{"inspect of nothing", []string{"inspect", "nosuch"}, 1, []string{"Error: No such object: nosuch\n"}, nil},
		{"image inspect of nothing", []string{"image", "inspect", "nosuch"}, 1, []string{"Error: no such image: nosuch\n"}, nil},
		{"ps status filter", []string{"ps", "--filter", "status=bogus"}, 1, []string{"invalid filter 'status=bogus'"}, nil},
		{"ps template", []string{"ps", "--format", "{{.Nope}}"}, 1, []string{`template: :1:2: executing "" at <.Nope>: can't evaluate field Nope`, "the fields are ID, Image"}, []string{"cli.", "psRow"}},
		{"images template", []string{"images", "--format", "{{.Nope}}"}, 1, []string{"can't evaluate field Nope"}, []string{"cli.", "Row"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strata(t, root, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			if strings.Count(r.stderr, "Error:") != 1 {
				t.Errorf("want one Error: on stderr, got %q", r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q lacks %q", r.stderr, s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q has %q", r.stderr, s)
				}
			}
		})
	}
	// A group alone still shows its help and succeeds, as docker's.
	if r := strata(t, root, "image"); r.code != 0 || !strings.Contains(r.stdout, "Manage images") {
		t.Errorf("strata image: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCpAnswers: cp's refusals say what docker's do, without store paths
// or internal steps, and a destination with a trailing slash must be an
// existing directory (it was written as a file named after it).
func TestCpAnswers(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "create", "--name", "c", "bb", "true")
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"into a missing directory", []string{"cp", in, "c:/nodir/"}, "Error: destination directory must exist: c:/nodir/ (no such directory)\n"},
		{"into a file as a directory", []string{"cp", in, "c:/etc/data.txt/"}, "Error: destination c:/etc/data.txt/ is not a directory\n"},
		{"out of a missing file", []string{"cp", "c:/x", out}, "Error: Could not find the file /x in container c\n"},
		{"out of a missing tree", []string{"cp", "c:/x/y", "-"}, "Error: Could not find the file /x/y in container c\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strata(t, root, tt.args...)
			if r.code != 1 || r.stderr != tt.stderr {
				t.Errorf("exit %d, stderr %q; want 1, %q", r.code, r.stderr, tt.stderr)
			}
		})
	}
	if r := strata(t, root, "diff", "c"); strings.Contains(r.stdout, "/nodir") {
		t.Errorf("a refused cp changed the container:\n%s", r.stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused cp made %s", out)
	}
	// The slash still means "into this directory" when it exists.
	mustStrata(t, root, "cp", in, "c:/www/")
	if got := mustStrata(t, root, "cp", "c:/www/in.txt", "-"); !strings.Contains(got, "hi\n") {
		t.Errorf("cp into /www/ did not land as /www/in.txt")
	}
}

// TestSystemDfContainers: df's Containers row counts the containers, the
// running ones as ACTIVE, their writable layers' size, and the stopped
// ones' share as reclaimable (it was always 0 0 0B).
func TestSystemDfContainers(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "--name", "w", "bb", "dd", "if=/dev/zero", "of=/big", "bs=1024", "count=300")
	mustStrata(t, root, "run", "-d", "--name", "r", "bb", "sleep", "60")
	df := mustStrata(t, root, "system", "df")
	var row []string
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(line, "Containers") {
			row = strings.Fields(line)
		}
	}
	if len(row) < 5 || row[1] != "2" || row[2] != "1" || !strings.HasPrefix(row[3], "3") || !strings.HasSuffix(row[3], "kB") || !strings.HasPrefix(row[4], "3") || !strings.HasSuffix(row[4], "kB") {
		t.Errorf("Containers row %q, want 2 containers, 1 active, 300-odd kB, nearly all reclaimable\n%s", row, df)
	}
}

// TestRunImplicitPull: run and create pull an image the store lacks, as
// docker's do, from a registry on loopback; --pull always|never and
// --platform as docker's; bad values exit 125 and create nothing.
func TestRunImplicitPull(t *testing.T) {
	root := containerRoot(t)
	reg := startRegistry(t)
	img := reg + "/tools/bb"
	mustStrata(t, root, "tag", "bb", img)
	mustStrata(t, root, "push", img)
	mustStrata(t, root, "rmi", img)

	// never: not pulled, and the run fails as before.
	if r := strata(t, root, "run", "--rm", "--pull", "never", img, "true"); r.code != 125 || !strings.Contains(r.stderr, "Unable to find image '"+img+"' locally") {
		t.Errorf("--pull never: exit %d\n%s", r.code, r.stderr)
	}
	// missing (the default): said, pulled, run.
	r := strata(t, root, "run", "--rm", img, "cat", "/www/index.html")
	if r.code != 0 || r.stdout != "hello from strata\n" || !strings.HasPrefix(r.stderr, "Unable to find image '"+img+":latest' locally\n") {
		t.Fatalf("run of a missing image: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "Status: Downloaded newer image for "+img+":latest") {
		t.Errorf("no pull progress on stderr:\n%s", r.stderr)
	}
	// Now present: nothing is said or pulled.
	if r := strata(t, root, "run", "--rm", img, "true"); r.code != 0 || r.stderr != "" {
		t.Errorf("second run: exit %d, stderr %q", r.code, r.stderr)
	}
	// always: pulled again (already there), no "Unable to find".
	if r := strata(t, root, "create", "--pull", "always", "--name", "a", img); r.code != 0 || strings.Contains(r.stderr, "Unable to find") || !strings.Contains(r.stderr, "Status: Image is up to date for "+img+":latest") {
		t.Errorf("create --pull always: exit %d, stderr %q", r.code, r.stderr)
	}
	// This machine's platform runs; another is refused before anything.
	host := strings.TrimSpace(mustStrata(t, root, "version", "--format", "{{.Client.Os}}/{{.Client.Arch}}"))
	mustStrata(t, root, "run", "--rm", "--platform", host, img, "true")
	other := "linux/arm64"
	if host == other {
		other = "linux/amd64"
	}
	for _, args := range [][]string{
		{"run", "--rm", "--platform", other, img, "true"},
		{"create", "--platform", other, "--name", "p", img},
		{"run", "--rm", "--pull", "sometimes", img, "true"},
	} {
		r := strata(t, root, args...)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("%v: exit %d, stderr %q; want 125 and one Error: line", args, r.code, r.stderr)
		}
	}
	if ps := mustStrata(t, root, "ps", "-a", "--format", "{{.Names}}"); ps != "a\n" {
		t.Errorf("refused creates left containers: %q", ps)
	}
}

// TestVersion: version and --version as docker's, from the engine's one
// source of these facts (the API's /version reports the same).
func TestVersion(t *testing.T) {
	root := t.TempDir()
	out := mustStrata(t, root, "version")
	for _, s := range []string{"Client:\n Version:", " API version:       1.50\n", " Go version:", "OS/Arch:           " + goruntime.GOOS + "/" + goruntime.GOARCH, "API version:      1.50 (minimum version 1.41)"} {
		if !strings.Contains(out, s) {
			t.Errorf("version lacks %q:\n%s", s, out)
		}
	}
	if f := mustStrata(t, root, "version", "--format", "{{.Client.Os}}/{{.Client.Arch}} {{.Server.MinAPIVersion}}"); f != goruntime.GOOS+"/"+goruntime.GOARCH+" 1.41\n" {
		t.Errorf("version --format = %q", f)
	}
	if v := mustStrata(t, root, "--version"); !strings.HasPrefix(v, "Strata version ") {
		t.Errorf("--version = %q", v)
	}
}

// TestRenameAndSpellings: rename (which the name-conflict message points
// to) and the image/container spellings of docker's verbs.
func TestRenameAndSpellings(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "web", "bb", "sleep", "60")
	mustStrata(t, root, "create", "--name", "other", "bb", "true")
	if r := strata(t, root, "run", "--name", "web", "bb", "true"); r.code != 125 || !strings.Contains(r.stderr, "rename") {
		t.Errorf("name conflict: exit %d, %q", r.code, r.stderr)
	}
	mustStrata(t, root, "rename", "web", "web-old")
	if got := mustStrata(t, root, "inspect", "--format", "{{.Name}}", "web-old"); got != "/web-old\n" {
		t.Errorf("inspect after rename: %q", got)
	}
	if r := strata(t, root, "inspect", "web"); r.code != 1 {
		t.Errorf("the old name still answers: exit %d", r.code)
	}
	mustStrata(t, root, "run", "--rm", "--name", "web", "bb", "true") // the old name is free
	for _, args := range [][]string{{"rename", "web-old", "other"}, {"rename", "web-old", "web-old"}, {"rename", "nosuch", "x"}, {"container", "rename", "web-old", "bad name"}} {
		if r := strata(t, root, args...); r.code != 1 || !strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 1 and one Error: line", args, r.code, r.stderr)
		}
	}
	mustStrata(t, root, "container", "rename", "web-old", "web2")
	if ps := mustStrata(t, root, "container", "ls", "--format", "{{.Names}}"); ps != "web2\n" {
		t.Errorf("container ls after rename: %q", ps)
	}
	mustStrata(t, root, "stop", "-t", "1", "web2")

	reg := startRegistry(t)
	img := reg + "/x/bb:1"
	mustStrata(t, root, "image", "tag", "bb", img)
	mustStrata(t, root, "image", "push", img)
	mustStrata(t, root, "image", "rm", img)
	if out := mustStrata(t, root, "image", "pull", "-q", img); out != img+"\n" {
		t.Errorf("image pull printed %q", out)
	}
}

// TestTop: top lists the container's processes (host PIDs) through the
// host's ps, with ps options after the container, as docker top.
func TestTop(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "t", "bb", "sleep", "61")
	out := mustStrata(t, root, "top", "t")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "UID") || !strings.Contains(lines[0], "PID") || !strings.HasSuffix(lines[1], "sleep 61") {
		t.Errorf("top:\n%s", out)
	}
	pid := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", "t"))
	if out := mustStrata(t, root, "container", "top", "t", "-o", "pid,args"); !strings.Contains(strings.Join(strings.Fields(out), " "), "PID COMMAND "+pid+" sleep 61") {
		t.Errorf("top -o pid,args (pid %s):\n%s", pid, out)
	}
	mustStrata(t, root, "stop", "-t", "1", "t")
	if r := strata(t, root, "top", "t"); r.code != 1 || !strings.Contains(r.stderr, "is not running") {
		t.Errorf("top of a stopped container: exit %d %q", r.code, r.stderr)
	}
}

// TestInfo: info counts the store's containers and images, and its
// --format reads the same fields.
func TestInfo(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "i", "bb", "sleep", "60")
	mustStrata(t, root, "create", "bb", "true")
	out := mustStrata(t, root, "info")
	for _, s := range []string{" Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n", " Storage Driver: ", " Cgroup Version: ", " Kernel Version: ", " CPUs: "} {
		if !strings.Contains(out, s) {
			t.Errorf("info lacks %q:\n%s", s, out)
		}
	}
	if f := mustStrata(t, root, "system", "info", "--format", "{{.ContainersRunning}}/{{.Containers}} {{.Images}}"); f != "1/2 1\n" {
		t.Errorf("info --format = %q", f)
	}
	mustStrata(t, root, "stop", "-t", "1", "i")
}

// TestBuildImplicitPull: build pulls an image that FROM or COPY --from
// names and the store lacks, as docker build does, once per build and not
// again when it is there; --pull pulls it again.
func TestBuildImplicitPull(t *testing.T) {
	root := containerRoot(t)
	reg := startRegistry(t)
	img := reg + "/tools/base:1"
	mustStrata(t, root, "tag", "bb", img)
	mustStrata(t, root, "push", img)
	mustStrata(t, root, "rmi", img)

	dir := t.TempDir()
	df := "FROM " + img + "\nCOPY --from=" + img + " /www/index.html /copied\nRUN cat /copied\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	r := strata(t, root, "build", "--progress", "plain", "--network", "none", "-t", "app:1", dir)
	if r.code != 0 || strings.Count(r.stderr, "Unable to find image '"+img+"' locally") != 1 {
		t.Fatalf("build of a missing base: exit %d, want one pull\n%s", r.code, r.stderr)
	}
	if out := mustStrata(t, root, "run", "--rm", "--network", "none", "app:1", "cat", "/copied"); out != "hello from strata\n" {
		t.Errorf("built image's /copied: %q", out)
	}
	if r := strata(t, root, "build", "--progress", "plain", "--network", "none", dir); r.code != 0 || strings.Contains(r.stderr, "pulling") || strings.Contains(r.stderr, "Unable to find") {
		t.Errorf("second build pulled again: exit %d\n%s", r.code, r.stderr)
	}
	if r := strata(t, root, "build", "--pull", "--progress", "plain", "--network", "none", dir); r.code != 0 || strings.Count(r.stderr, "pulling "+img+" (--pull)") != 1 {
		t.Errorf("build --pull: exit %d, want one pull\n%s", r.code, r.stderr)
	}
	// A base no registry has: the build fails naming the Dockerfile line
	// and the image, and tags nothing.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+reg+"/tools/nosuch:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := strata(t, root, "build", "-t", "bad:1", dir); r.code == 0 || !strings.Contains(r.stderr, "Dockerfile:1") || !strings.Contains(r.stderr, "tools/nosuch:1") {
		t.Errorf("build of a base nowhere: exit %d\n%s", r.code, r.stderr)
	}
	if r := strata(t, root, "image", "inspect", "bad:1"); r.code == 0 {
		t.Errorf("a failed build tagged bad:1")
	}
}
