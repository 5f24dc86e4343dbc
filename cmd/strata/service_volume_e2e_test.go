package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestEngineAPIVolumes: the docker 28 CLI and the python SDK use volumes
// through the socket: a volume made by docker volume create carries data
// from one docker run to the next, shows in strata volume ls, is refused
// removal while a container uses it (409), and anonymous ones go with
// --rm and rm -v.
func TestEngineAPIVolumes(t *testing.T) {
	cli, root, host := dockerService(t)

	if out := mustDocker(t, cli, host, "volume", "create", "--label", "team=web", "data"); strings.TrimSpace(out) != "data" {
		t.Fatalf("docker volume create: %q", out)
	}
	mustDocker(t, cli, host, "run", "--rm", "-v", "data:/data", "bb", "sh", "-c", "echo written > /data/f")
	if out := mustDocker(t, cli, host, "run", "--rm", "-v", "data:/data:ro", "bb", "cat", "/data/f"); out != "written\n" {
		t.Errorf("a second docker run reads %q", out)
	}
	if got := volumeNames(t, root); strings.Join(got, " ") != "data" {
		t.Errorf("strata volume ls after docker: %v", got)
	}
	var insp []map[string]any
	if err := json.Unmarshal([]byte(mustDocker(t, cli, host, "volume", "inspect", "data")), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("docker volume inspect: %v", err)
	}
	if v := insp[0]; v["Driver"] != "local" || v["Scope"] != "local" || v["Labels"].(map[string]any)["team"] != "web" || !strings.HasSuffix(v["Mountpoint"].(string), "/volumes/data/_data") {
		t.Errorf("docker volume inspect: %v", v)
	}
	if out := mustDocker(t, cli, host, "volume", "ls", "--filter", "label=team=web", "--format", "{{.Name}} {{.Driver}}"); out != "data local\n" {
		t.Errorf("docker volume ls --filter: %q", out)
	}

	// --mount and an anonymous volume, and what inspect shows of them.
	mustDocker(t, cli, host, "run", "--name", "m", "--mount", "type=volume,src=data,dst=/d,readonly", "-v", "/anon", "bb", "true")
	var mounts []map[string]any
	if err := json.Unmarshal([]byte(mustDocker(t, cli, host, "inspect", "--format", "{{json .Mounts}}", "m")), &mounts); err != nil || len(mounts) != 2 {
		t.Fatalf("docker inspect Mounts: %v %v", mounts, err)
	}
	out, err := dockerCLI(t, cli, host, "volume", "rm", "data")
	if err == nil || !strings.Contains(out, "volume is in use - [m (") {
		t.Errorf("docker volume rm of a volume in use: %v %q", err, out)
	}
	if got := volumeNames(t, root); len(got) != 2 {
		t.Fatalf("volumes with m's anonymous one: %v", got)
	}
	mustDocker(t, cli, host, "rm", "-v", "m")
	if got := volumeNames(t, root); strings.Join(got, " ") != "data" {
		t.Errorf("docker rm -v left %v", got)
	}
	mustDocker(t, cli, host, "run", "--rm", "-v", "/anon", "bb", "true")
	if got := volumeNames(t, root); strings.Join(got, " ") != "data" {
		t.Errorf("docker run --rm -v /anon left %v", got)
	}
	if out, err := dockerCLI(t, cli, host, "run", "--rm", "--mount", "type=bind,src=/nonexist,dst=/x", "bb", "true"); err == nil || !strings.Contains(out, "bind source path does not exist: /nonexist") {
		t.Errorf("docker run with a bad --mount: %v %q", err, out)
	}

	if exec.Command("python3", "-c", "import docker").Run() != nil {
		t.Skip("skipping the SDK part: python3's docker module is missing (apt-get install python3-docker)")
	}
	script := `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
v = c.volumes.create(name="sdkvol", labels={"a": "b"})
print(v.name, v.attrs["Driver"], v.attrs["Labels"])
print(sorted(x.name for x in c.volumes.list()))
c.containers.run("bb", ["sh", "-c", "echo sdk > /v/f"], volumes={"sdkvol": {"bind": "/v", "mode": "rw"}}, remove=True)
print(c.containers.run("bb", ["cat", "/v/f"], volumes=["sdkvol:/v:ro"], remove=True).decode(), end="")
print(c.volumes.get("sdkvol").attrs["Mountpoint"].endswith("/volumes/sdkvol/_data"))
c.volumes.get("sdkvol").remove()
try:
    c.volumes.get("sdkvol")
except docker.errors.NotFound:
    print("gone")
print(c.volumes.prune()["VolumesDeleted"])
`
	got, err := exec.Command("python3", "-c", script, host).CombinedOutput()
	if err != nil {
		t.Fatalf("python SDK: %v\n%s", err, got)
	}
	want := "sdkvol local {'a': 'b'}\n['data', 'sdkvol']\nsdk\nTrue\ngone\n[]\n"
	if string(got) != want {
		t.Errorf("python SDK printed %q, want %q", got, want)
	}
}
