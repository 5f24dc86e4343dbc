package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// dockerCLIPath is the docker 28 CLI this machine has.
const dockerCLIPath = "/usr/local/bin/docker"

// dockerService makes a store with busybox "bb" (containerRoot), serves the
// Engine API over it and returns the docker CLI to drive it with, or skips
// without root, runc, busybox or the CLI.
func dockerService(t *testing.T) (cli, root, host string) {
	t.Helper()
	testutil.RequiresRoot(t)
	if _, err := os.Stat(dockerCLIPath); err != nil {
		t.Skipf("skipping: no docker CLI at %s", dockerCLIPath)
	}
	root = containerRoot(t)
	return dockerCLIPath, root, startService(t, root)
}

// startService runs `strata system service` on a socket of the test's own
// and returns its DOCKER_HOST, once the server says it listens.
func startService(t *testing.T, root string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	cmd := exec.Command(strataBin, "--root", root, "system", "service", "unix://"+sock)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "serving the Docker Engine API on ") {
			go func() {
				for sc.Scan() {
				}
			}()
			return "unix://" + sock
		}
	}
	t.Fatalf("system service ended before listening: %v", sc.Err())
	return ""
}

// startRegistry runs `strata registry serve` on a free loopback port.
func startRegistry(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(strataBin, "registry", "serve", "--root", t.TempDir(), "--addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testutil.WaitFor(t, "the registry to answer on "+addr, func() bool {
		return exec.Command("curl", "-sf", "http://"+addr+"/v2/").Run() == nil
	})
	return addr
}

// docker runs a docker client against host with a config dir of its own.
func dockerCLI(t *testing.T, bin, host string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustDocker(t *testing.T, bin, host string, args ...string) string {
	t.Helper()
	out, err := dockerCLI(t, bin, host, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The docker CLI (28, API 1.50) drives Strata's image store through the
// socket: what it does shows in strata's own verbs and back.
func TestEngineAPIDockerCLIImages(t *testing.T) {
	cli, root, host := dockerService(t)

	if out := mustDocker(t, cli, host, "version", "--format", "{{.Server.Platform.Name}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}"); strings.TrimSpace(out) != "Strata 1.50 1.41" {
		t.Errorf("docker version: %q", out)
	}
	if out := mustDocker(t, cli, host, "info", "--format", "{{.Images}} {{.Driver}} {{.DockerRootDir}}"); !strings.HasPrefix(out, "1 ") || !strings.Contains(out, root) {
		t.Errorf("docker info: %q", out)
	}
	// docker images lists what strata imported; docker tag shows in strata images.
	if out := mustDocker(t, cli, host, "images", "--format", "{{.Repository}}:{{.Tag}}"); strings.TrimSpace(out) != "bb:latest" {
		t.Errorf("docker images: %q", out)
	}
	mustDocker(t, cli, host, "tag", "bb", "team/app:v1")
	if out := mustStrata(t, root, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "team/app:v1") {
		t.Errorf("strata images after docker tag: %q", out)
	}
	if out := mustDocker(t, cli, host, "inspect", "--format", "{{.Config.Cmd}}", "bb"); strings.TrimSpace(out) != "[sh]" {
		t.Errorf("docker inspect: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "inspect", "nosuch"); err == nil || !strings.Contains(out, "No such object: nosuch") {
		t.Errorf("docker inspect nosuch: %v %q", err, out)
	}
	if out := mustDocker(t, cli, host, "history", "--format", "{{.Comment}}", "bb"); !strings.Contains(out, "Imported from") {
		t.Errorf("docker history: %q", out)
	}

	// save | rmi | load through the socket keeps the image ID.
	id := strings.TrimSpace(mustStrata(t, root, "images", "-q", "--no-trunc", "bb"))
	tar := filepath.Join(t.TempDir(), "bb.tar")
	mustDocker(t, cli, host, "save", "-o", tar, "bb")
	if out := mustDocker(t, cli, host, "rmi", "team/app:v1"); !strings.Contains(out, "Untagged: team/app:v1") {
		t.Errorf("docker rmi: %q", out)
	}
	mustStrata(t, root, "rmi", "bb")
	if out := mustDocker(t, cli, host, "load", "-i", tar); !strings.Contains(out, "Loaded image: bb:latest") {
		t.Errorf("docker load: %q", out)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "images", "-q", "--no-trunc", "bb")); got != id {
		t.Errorf("image ID after save/load through the socket: %s, want %s", got, id)
	}

	// push and pull through the socket, to Strata's registry.
	reg := startRegistry(t)
	ref := reg + "/team/bb:v1"
	mustDocker(t, cli, host, "tag", "bb", ref)
	if out := mustDocker(t, cli, host, "push", ref); !strings.Contains(out, "v1: digest: sha256:") {
		t.Errorf("docker push: %q", out)
	}
	mustDocker(t, cli, host, "rmi", ref, "bb")
	if out := mustDocker(t, cli, host, "pull", ref); !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("docker pull: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "pull", reg+"/team/nosuch:v1"); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("docker pull of a missing image: %v %q", err, out)
	}
}

// Debian's docker 20.10 client (API 1.41) and the python SDK (docker-py
// 7.1, which calls an unversioned /version first).
func TestEngineAPIOlderClientAndSDK(t *testing.T) {
	testutil.RequiresRoot(t)
	root := containerRoot(t)
	host := startService(t, root)
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		if out := mustDocker(t, "/usr/bin/docker", host, "version", "--format", "{{.Client.APIVersion}} {{.Server.Version}}"); !strings.HasPrefix(out, "1.41 ") {
			t.Errorf("docker 20.10 version: %q", out)
		}
		if out := mustDocker(t, "/usr/bin/docker", host, "images", "--format", "{{.Repository}}"); strings.TrimSpace(out) != "bb" {
			t.Errorf("docker 20.10 images: %q", out)
		}
	} else {
		t.Log("no Debian docker client at /usr/bin/docker (apt-get install docker.io)")
	}
	if exec.Command("python3", "-c", "import docker").Run() != nil {
		t.Skip("skipping the SDK part: python3's docker module is missing (apt-get install python3-docker)")
	}
	script := `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
assert c.ping()
print(c.version()["Components"][0]["Name"])
img = c.images.get("bb")
img.tag("sdk/app", "v2")
print(sorted(t for i in c.images.list() for t in i.tags))
c.images.remove("sdk/app:v2")
try:
    c.images.get("nosuch")
except docker.errors.ImageNotFound as e:
    print("not found:", e.explanation)
`
	out, err := exec.Command("python3", "-c", script, host).CombinedOutput()
	if err != nil {
		t.Fatalf("python SDK: %v\n%s", err, out)
	}
	want := "Engine\n['bb:latest', 'sdk/app:v2']\nnot found: No such image: nosuch\n"
	if string(out) != want {
		t.Errorf("python SDK printed %q, want %q", out, want)
	}
}

// docker run, ps, logs, stop and rm through the socket, on containers
// strata's own verbs see too.
func TestEngineAPIDockerRun(t *testing.T) {
	cli, root, host := dockerService(t)

	// Attached: stdout and stderr apart, the exit status, --rm removes.
	cmd := exec.Command(cli, "run", "--rm", "bb", "sh", "-c", "echo hello; echo oops >&2; exit 3")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || so.String() != "hello\n" || !strings.Contains(se.String(), "oops") {
		t.Errorf("docker run: %v, stdout %q, stderr %q; want exit 3, hello, oops", err, so.String(), se.String())
	}
	if out := mustStrata(t, root, "ps", "-aq"); out != "" {
		t.Errorf("after docker run --rm, strata ps -a: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "run", "--rm", "bb", "nosuchcmd"); err == nil || err.(*exec.ExitError).ExitCode() != 127 {
		t.Errorf("docker run of a missing command: %v %q, want exit 127", err, out)
	}
	// A restart policy through HostConfig: on-failure:1 restarts once;
	// docker update changes it.
	mustDocker(t, cli, host, "run", "-d", "--name", "fail", "--restart", "on-failure:1", "bb", "sh", "-c", "exit 4")
	waitInspect(t, root, "fail", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "exited 1 4")
	if out := mustDocker(t, cli, host, "inspect", "--format", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.RestartCount}}", "fail"); strings.TrimSpace(out) != "on-failure 1 1" {
		t.Errorf("docker inspect of an on-failure:1 container: %q", out)
	}
	mustDocker(t, cli, host, "update", "--restart", "unless-stopped", "fail")
	if out := mustStrata(t, root, "inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}", "fail"); strings.TrimSpace(out) != "unless-stopped" {
		t.Errorf("after docker update --restart: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "run", "--restart", "sometimes", "bb", "true"); err == nil || !strings.Contains(out, "sometimes") {
		t.Errorf("docker run --restart sometimes: %v %q, want a refusal naming it", err, out)
	}
	mustDocker(t, cli, host, "rm", "fail")

	// Detached: strata sees it, docker logs/ps/stop/rm drive it.
	id := strings.TrimSpace(mustDocker(t, cli, host, "run", "-d", "--name", "web", "bb", "sh", "-c", "echo started; exec sleep 100"))
	if len(id) != 64 {
		t.Fatalf("docker run -d printed %q", id)
	}
	if out := mustStrata(t, root, "ps", "--format", "{{.Names}}"); strings.TrimSpace(out) != "web" {
		t.Errorf("strata ps after docker run -d: %q", out)
	}
	testutil.WaitFor(t, "docker logs to show the output", func() bool {
		return strings.Contains(mustDocker(t, cli, host, "logs", "web"), "started")
	})
	// dockerd joins the command without quoting; the CLI quotes it.
	if out := mustDocker(t, cli, host, "ps", "--no-trunc", "--format", "{{.Names}} {{.State}} {{.Command}}"); strings.TrimSpace(out) != `web running "sh -c echo started; exec sleep 100"` {
		t.Errorf("docker ps: %q", out)
	}
	mustDocker(t, cli, host, "stop", "-t", "1", "web")
	if out := mustDocker(t, cli, host, "ps", "-a", "--format", "{{.Names}} {{.State}}"); strings.TrimSpace(out) != "web exited" {
		t.Errorf("docker ps -a after stop: %q", out)
	}
	mustDocker(t, cli, host, "rm", "web")
	if out := mustStrata(t, root, "ps", "-aq"); out != "" {
		t.Errorf("after docker rm, strata ps -a: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "logs", "web"); err == nil || !strings.Contains(out, "No such container: web") {
		t.Errorf("docker logs of a removed container: %v %q", err, out)
	}

	// The python SDK's containers.run.
	if exec.Command("python3", "-c", "import docker").Run() == nil {
		out, err := exec.Command("python3", "-c", `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
print(c.containers.run("bb", ["sh", "-c", "echo from sdk"], remove=True).decode(), end="")
`, host).CombinedOutput()
		if err != nil || string(out) != "from sdk\n" {
			t.Errorf("python SDK containers.run: %v %q", err, out)
		}
	}
}

// docker exec (with stdin) and docker cp both ways through the socket.
func TestEngineAPIExecAndCp(t *testing.T) {
	cli, root, host := dockerService(t)
	mustDocker(t, cli, host, "run", "-d", "--name", "box", "bb", "sh", "-c", "exec sleep 100")

	if out, err := dockerCLI(t, cli, host, "exec", "box", "sh", "-c", "echo in exec; exit 5"); err == nil || err.(*exec.ExitError).ExitCode() != 5 || out != "in exec\n" {
		t.Errorf("docker exec: %v %q, want exit 5 and its output", err, out)
	}
	cmd := exec.Command(cli, "exec", "-i", "box", "sh", "-c", "while read l; do echo \"[$l]\"; done")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	cmd.Stdin = strings.NewReader("l1\nl2\n")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "[l1]\n[l2]\n" {
		t.Errorf("docker exec -i: %v %q", err, out)
	}
	if out, err := dockerCLI(t, cli, host, "exec", "box", "nosuchcmd"); err == nil || err.(*exec.ExitError).ExitCode() != 127 {
		t.Errorf("docker exec of a missing command: %v %q, want exit 127", err, out)
	}

	src := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(src, []byte("copied in\n"), 0o644)
	mustDocker(t, cli, host, "cp", src, "box:/in.txt")
	if out := mustStrata(t, root, "exec", "box", "cat", "/in.txt"); out != "copied in\n" {
		t.Errorf("file copied in by docker cp, read by strata exec: %q", out)
	}
	dst := filepath.Join(t.TempDir(), "out.txt")
	mustDocker(t, cli, host, "cp", "box:/in.txt", dst)
	if b, _ := os.ReadFile(dst); string(b) != "copied in\n" {
		t.Errorf("docker cp out: %q", b)
	}
	if out, err := dockerCLI(t, cli, host, "cp", "box:/nosuch", dst); err == nil || !strings.Contains(out, "Could not find the file /nosuch in container box") || strings.Contains(out, root) {
		t.Errorf("docker cp of a missing path: %v %q", err, out)
	}
	// docker stats reads the same counters as strata stats.
	if out := mustDocker(t, cli, host, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "box"); strings.TrimSpace(out) != "box 1" {
		t.Errorf("docker stats: %q", out)
	}
	mustDocker(t, cli, host, "rm", "-f", "box")
}

// docker build (the classic API, which Builder-Version 1 selects) and the
// SDK's images.build, with Strata's builder behind them.
func TestEngineAPIBuild(t *testing.T) {
	cli, root, host := dockerService(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "f.txt"), []byte("data\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM bb\nARG X=1\nCOPY f.txt /f.txt\nRUN echo built $X > /g\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "bad.Dockerfile"), []byte("FROM bb\nRUN exit 3\n"), 0o644)

	out := mustDocker(t, cli, host, "build", "-t", "built:1", "--build-arg", "X=7", ctxDir)
	if !strings.Contains(out, "Successfully tagged built:1") {
		t.Errorf("docker build: %q", out)
	}
	if got := mustStrata(t, root, "run", "--rm", "built:1", "cat", "/g"); got != "built 7\n" {
		t.Errorf("the built image, run by strata: %q", got)
	}
	if out, err := dockerCLI(t, cli, host, "build", "-f", filepath.Join(ctxDir, "bad.Dockerfile"), ctxDir); err == nil || !strings.Contains(out, "bad.Dockerfile:2") || !strings.Contains(out, "code 3") {
		t.Errorf("a failing build: %v %q, want the Dockerfile line and the exit code", err, out)
	}
	if exec.Command("python3", "-c", "import docker").Run() == nil {
		out, err := exec.Command("python3", "-c", `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag="sdk:1", buildargs={"X": "9"})
print(img.tags)
`, host, ctxDir).CombinedOutput()
		if err != nil || string(out) != "['sdk:1']\n" {
			t.Errorf("python SDK images.build: %v %q", err, out)
		}
	}
}

// docker network create, two containers by name and alias, and the
// refusals: a network in use, a network that does not exist (which must
// not make the CLI pull the image).
func TestEngineAPINetworks(t *testing.T) {
	cli, root, host := dockerService(t)
	mustDocker(t, cli, host, "network", "create", "appnet")
	t.Cleanup(func() {
		strata(t, root, "rm", "-f", "web")
		strata(t, root, "network", "rm", "appnet")
	})
	if out := mustStrata(t, root, "network", "ls", "--format", "{{.Name}}"); !strings.Contains(out, "appnet") {
		t.Errorf("strata network ls after docker network create: %q", out)
	}
	mustDocker(t, cli, host, "run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "www", "bb", "sh", "-c", "exec sleep 100")
	hosts := mustDocker(t, cli, host, "run", "--rm", "--network", "appnet", "bb", "cat", "/etc/hosts")
	if !regexp.MustCompile(`(?m)^172\.[0-9.]+\s+web www [0-9a-f]{12}$`).MatchString(hosts) {
		t.Errorf("a peer's /etc/hosts lacks web by name, alias and short ID:\n%s", hosts)
	}
	if out := mustDocker(t, cli, host, "network", "inspect", "appnet", "--format", "{{range .Containers}}{{.Name}}{{end}}"); strings.TrimSpace(out) != "web" {
		t.Errorf("docker network inspect: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "network", "rm", "appnet"); err == nil || !strings.Contains(out, "web") {
		t.Errorf("docker network rm of a network in use: %v %q, want a refusal naming web", err, out)
	}
	out, err := dockerCLI(t, cli, host, "run", "--rm", "--network", "nosuchnet", "bb", "true")
	if err == nil || err.(*exec.ExitError).ExitCode() != 125 || !strings.Contains(out, "network nosuchnet not found") || strings.Contains(out, "Unable to find image") {
		t.Errorf("docker run --network nosuchnet: %v %q, want exit 125 naming the network, and no pull", err, out)
	}
	mustDocker(t, cli, host, "rm", "-f", "web")
	mustDocker(t, cli, host, "network", "rm", "appnet")
}
