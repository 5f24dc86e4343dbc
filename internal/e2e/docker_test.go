package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerBin is Debian's docker client, called by path: another docker may
// come first on PATH.
const dockerBin = "/usr/bin/docker"

// dockerCLI runs the docker client against the daemon of
// STRATA_TEST_DOCKER_HOST (scripts/test.sh starts one), or skips.
func dockerCLI(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	host := os.Getenv("STRATA_TEST_DOCKER_HOST")
	if host == "" {
		t.Skip("skipping: set STRATA_TEST_DOCKER_HOST=unix:///run/....sock (scripts/test.sh starts a dockerd and sets it)")
	}
	if _, err := os.Stat(dockerBin); err != nil {
		t.Skipf("skipping: %s not installed (apt-get install docker.io)", dockerBin)
	}
	return dockerAt(host)
}

// dockerAt runs the docker client against the daemon at host.
func dockerAt(host string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		cmd := exec.Command(dockerBin, append([]string{"-H", host}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return stdout.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), nil
	}
}

// TestDockerInterop: `docker load` accepts a `strata save` archive, keeps
// the image's ID and layers, and runs it; `strata load` accepts what
// `docker save` then writes of that image, which strata runs.
func TestDockerInterop(t *testing.T) {
	u := newUser(t)
	docker := dockerCLI(t)
	// Names of this test's own, removed from the daemon at the end.
	const name, back = "strata-e2e/app:v1", "strata-e2e/back:v1"
	t.Cleanup(func() { docker("rmi", "-f", name, back) })
	u.baseImage(t, "base:1", name)
	id := u.inspect(t, "{{.Id}}", name)
	layers := u.inspect(t, "{{json .RootFS.Layers}}", name)
	dir := t.TempDir()
	saved := filepath.Join(dir, "strata.tar")
	u.ok(t, "save", "-o", saved, name)

	out, err := docker("load", "-i", saved)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "Loaded image: "+name {
		t.Errorf("docker load printed %q, want \"Loaded image: %s\"", got, name)
	}
	out, err = docker("image", "inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}", name)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(out), id+" "+layers; got != want {
		t.Errorf("docker sees ID and diffIDs\n%s\nstrata saved\n%s", got, want)
	}
	if out, err = docker("run", "--rm", "--network", "none", name); err != nil {
		t.Fatal(err)
	} else if out != "hello from "+name+"\n" {
		t.Errorf("docker run of the loaded image printed %q", out)
	}
	if _, err = docker("run", "--rm", "--network", "none", name, "true"); err != nil {
		t.Fatal(err)
	}

	// And back: docker save of that image under another name.
	if _, err := docker("tag", name, back); err != nil {
		t.Fatal(err)
	}
	dsaved := filepath.Join(dir, "docker.tar")
	if _, err := docker("save", "-o", dsaved, back); err != nil {
		t.Fatal(err)
	}
	v := newUser(t)
	r := v.ok(t, "load", "-i", dsaved)
	if got := strings.TrimSpace(r.stdout); got != "Loaded image: "+back {
		t.Errorf("strata load printed %q, want \"Loaded image: %s\"", got, back)
	}
	if got := v.inspect(t, "{{.Id}} {{json .RootFS.Layers}}", back); got != id+" "+layers {
		t.Errorf("strata loaded ID and diffIDs\n%s\nwant\n%s", got, id+" "+layers)
	}
	v.fsckClean(t)
	requiresRunc(t)
	if r := v.ok(t, "run", "--rm", back); r.stdout != "hello from "+name+"\n" {
		t.Errorf("strata run of docker's archive printed %q", r.stdout)
	}
}
