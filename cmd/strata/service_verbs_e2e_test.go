package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/strata-project/strata/internal/testutil"
)

// The container verbs beyond run through the socket (docker 28 CLI): top,
// rename, update, diff, commit, export | import, system df, prune, search,
// each seen by strata's own verbs where it changes something.
func TestEngineAPIContainerVerbs(t *testing.T) {
	cli, root, host := dockerService(t)
	mustDocker(t, cli, host, "run", "-d", "--name", "box", "bb", "sh", "-c", "exec sleep 100")
	t.Cleanup(func() { strata(t, root, "rm", "-f", "box2") })

	if out := mustDocker(t, cli, host, "top", "box"); !regexp.MustCompile(`(?m)^UID\s+PID.*CMD\nroot\s+\d+.*sleep 100$`).MatchString(strings.TrimSpace(out)) {
		t.Errorf("docker top:\n%s", out)
	}
	mustDocker(t, cli, host, "rename", "box", "box2")
	if out := mustStrata(t, root, "ps", "--format", "{{.Names}}"); strings.TrimSpace(out) != "box2" {
		t.Errorf("strata ps after docker rename: %q", out)
	}
	mustDocker(t, cli, host, "update", "--memory", "64m", "--memory-swap", "128m", "box2")
	if out := mustStrata(t, root, "inspect", "--format", "{{.HostConfig.Memory}}", "box2"); strings.TrimSpace(out) != "67108864" {
		t.Errorf("memory after docker update: %q", out)
	}
	mustDocker(t, cli, host, "exec", "box2", "sh", "-c", "echo x > /new.txt; rm /etc/old.txt")
	if out := mustDocker(t, cli, host, "diff", "box2"); !strings.Contains(out, "A /new.txt") || !strings.Contains(out, "D /etc/old.txt") {
		t.Errorf("docker diff: %q", out)
	}
	mustDocker(t, cli, host, "commit", "-c", "ENV A=1", "-m", "by docker commit", "box2", "committed:1")
	if out := mustStrata(t, root, "run", "--rm", "committed:1", "sh", "-c", "cat /new.txt; echo $A"); out != "x\n1\n" {
		t.Errorf("the committed image, run by strata: %q", out)
	}
	tar := filepath.Join(t.TempDir(), "exp.tar")
	mustDocker(t, cli, host, "export", "-o", tar, "box2")
	mustDocker(t, cli, host, "import", "-c", "CMD [\"cat\", \"/new.txt\"]", tar, "imported:1")
	if out := mustDocker(t, cli, host, "run", "--rm", "imported:1"); out != "x\n" {
		t.Errorf("the imported export, run: %q", out)
	}
	if out := mustDocker(t, cli, host, "system", "df", "--format", "{{.Type}} {{.TotalCount}}"); !strings.Contains(out, "Images 3") || !strings.Contains(out, "Containers 1") {
		t.Errorf("docker system df: %q", out)
	}
	mustDocker(t, cli, host, "stop", "-t", "0", "box2")
	if out := mustDocker(t, cli, host, "container", "prune", "-f"); !strings.Contains(out, "Deleted Containers:") {
		t.Errorf("docker container prune: %q", out)
	}
	if out := mustStrata(t, root, "ps", "-aq"); out != "" {
		t.Errorf("after docker container prune, strata ps -a: %q", out)
	}
	// A container disconnected from its only network may be connected
	// again (docker-compose does this with each container it makes).
	mustDocker(t, cli, host, "network", "create", "again")
	t.Cleanup(func() { strata(t, root, "rm", "-f", "hop"); strata(t, root, "network", "rm", "again") })
	mustDocker(t, cli, host, "create", "--name", "hop", "--network", "again", "bb", "true")
	mustDocker(t, cli, host, "network", "disconnect", "again", "hop")
	mustDocker(t, cli, host, "network", "connect", "--alias", "hopper", "again", "hop")
	if out := mustDocker(t, cli, host, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.Aliases}}{{end}}", "hop"); strings.TrimSpace(out) != "again [hopper]" {
		t.Errorf("networks after disconnect and connect: %q", out)
	}
	if out, err := dockerCLI(t, cli, host, "network", "connect", "again", "nonet"); err == nil {
		t.Errorf("connect of a missing container: %q", out)
	}
	mustDocker(t, cli, host, "create", "--name", "nonet", "--network", "none", "bb", "true")
	if out, err := dockerCLI(t, cli, host, "network", "connect", "again", "nonet"); err == nil || !strings.Contains(out, "--network none") {
		t.Errorf("connect of a --network none container: %v %q, want a refusal", err, out)
	}
	mustDocker(t, cli, host, "rm", "hop", "nonet")

	if out, err := dockerCLI(t, cli, host, "search", "busybox"); err == nil || !strings.Contains(out, "search is not supported") {
		t.Errorf("docker search: %v %q", err, out)
	}
}

// What every client version is held to, run with docker 28 (API 1.50)
// and Debian's docker 20.10 (API 1.41): run -it through a terminal (with
// its resizes), logs -f, save | load, system df, stats, a user network
// with two containers by name.
func TestEngineAPIClientVersions(t *testing.T) {
	cli, root, host := dockerService(t)
	for _, bin := range []string{cli, "/usr/bin/docker"} {
		t.Run(map[string]string{cli: "docker28", "/usr/bin/docker": "docker20.10"}[bin], func(t *testing.T) {
			if _, err := os.Stat(bin); err != nil {
				t.Skipf("skipping: no docker client at %s (apt-get install docker.io)", bin)
			}
			clientChecks(t, bin, root, host)
		})
	}
}

func clientChecks(t *testing.T, bin, root, host string) {
	// run -it: a terminal of 30x100 the container sees (the CLI resizes
	// after start), typed input, the exit status.
	cmd := exec.Command(bin, "run", "-it", "--rm", "bb", "sh")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var screen testutil.SyncBuffer
	go io.Copy(&screen, tty)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(screen.String(), "30 100") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("run -it: the container never saw a 30x100 terminal:\n%s", screen.String())
		}
		fmt.Fprintf(tty, "stty size\r")
		time.Sleep(100 * time.Millisecond) // the prompt's pace, not a synchronisation
	}
	fmt.Fprintf(tty, "echo sum=$((6*7)); exit 3\r")
	if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 3 || !strings.Contains(screen.String(), "sum=42") {
		t.Errorf("run -it: %v, screen:\n%s", err, screen.String())
	}

	// logs -f follows until the container exits.
	mustDocker(t, bin, host, "run", "-d", "--name", "talker", "bb", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done")
	if out := mustDocker(t, bin, host, "logs", "-f", "talker"); out != "line1\nline2\nline3\n" {
		t.Errorf("logs -f: %q", out)
	}
	mustDocker(t, bin, host, "rm", "talker")

	// save | load, through pipes as users type it.
	id := strings.TrimSpace(mustStrata(t, root, "images", "-q", "--no-trunc", "bb"))
	var saved bytes.Buffer
	save := exec.Command(bin, "save", "bb")
	save.Env = append(os.Environ(), "DOCKER_HOST="+host)
	save.Stdout = &saved
	if err := save.Run(); err != nil {
		t.Fatalf("save: %v", err)
	}
	mustStrata(t, root, "tag", "bb", "keep:1") // the layers stay; the name goes
	mustStrata(t, root, "rmi", "bb")
	load := exec.Command(bin, "load")
	load.Env = append(os.Environ(), "DOCKER_HOST="+host)
	load.Stdin = &saved
	if out, err := load.CombinedOutput(); err != nil || !strings.Contains(string(out), "Loaded image: bb:latest") {
		t.Errorf("save | load: %v %q", err, out)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "images", "-q", "--no-trunc", "bb")); got != id {
		t.Errorf("image ID after save | load: %s, want %s", got, id)
	}
	mustStrata(t, root, "rmi", "keep:1")

	if out := mustDocker(t, bin, host, "system", "df"); !regexp.MustCompile(`(?m)^Images\s+1\s`).MatchString(out) {
		t.Errorf("system df:\n%s", out)
	}

	// A user network, two containers; the second finds the first by name.
	mustDocker(t, bin, host, "network", "create", "pair")
	t.Cleanup(func() {
		strata(t, root, "rm", "-f", "srv")
		strata(t, root, "network", "rm", "pair")
	})
	mustDocker(t, bin, host, "run", "-d", "--name", "srv", "--network", "pair", "bb", "sh", "-c", "exec sleep 100")
	hosts := mustDocker(t, bin, host, "run", "--rm", "--network", "pair", "bb", "cat", "/etc/hosts")
	if !regexp.MustCompile(`(?m)^172\.[0-9.]+\s+srv\b`).MatchString(hosts) {
		t.Errorf("a peer's /etc/hosts lacks srv:\n%s", hosts)
	}
	if out := mustDocker(t, bin, host, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "srv"); strings.TrimSpace(out) != "srv 1" {
		t.Errorf("stats --no-stream: %q", out)
	}
	mustDocker(t, bin, host, "rm", "-f", "srv")
	mustDocker(t, bin, host, "network", "rm", "pair")
}

// Socket activation, as the README's strata.socket and strata.service do
// it: systemd-socket-activate holds the socket and starts the service on
// the first connection, which serves it.
func TestEngineAPISocketActivation(t *testing.T) {
	testutil.RequiresRoot(t)
	act, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("skipping: no systemd-socket-activate (apt-get install systemd)")
	}
	if _, err := os.Stat(dockerCLIPath); err != nil {
		t.Skipf("skipping: no docker CLI at %s", dockerCLIPath)
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	cmd := exec.Command(act, "-l", sock, strataBin, "--root", t.TempDir(), "system", "service")
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testutil.WaitFor(t, "systemd-socket-activate to listen", func() bool { return strings.Contains(stderr.String(), "Listening on") })
	if out := mustDocker(t, dockerCLIPath, "unix://"+sock, "version", "--format", "{{.Server.Platform.Name}}"); strings.TrimSpace(out) != "Strata" {
		t.Errorf("docker version through the activated socket: %q", out)
	}
	if !strings.Contains(stderr.String(), "serving the Docker Engine API on "+sock) {
		t.Errorf("the activated service did not serve the passed socket: %s", stderr.String())
	}
}

// The python SDK (docker-py): containers.run detached with logs and wait,
// exec_run, put_archive/get_archive, networks, images.build, and
// images.push/pull with a login against strata's registry (htpasswd).
func TestEngineAPIPythonSDK(t *testing.T) {
	_, root, host := dockerService(t)
	if exec.Command("python3", "-c", "import docker").Run() != nil {
		t.Skip("skipping: python3's docker module is missing (apt-get install python3-docker)")
	}
	htpasswd, err := exec.Command("htpasswd", "-Bbn", "sdkuser", "sdkpass").Output()
	if err != nil {
		t.Skipf("skipping: htpasswd (apache2-utils): %v", err)
	}
	pw := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(pw, htpasswd, 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	reg := exec.Command(strataBin, "registry", "serve", "--root", t.TempDir(), "--addr", addr, "--htpasswd", pw)
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Process.Kill(); reg.Wait() })
	testutil.WaitFor(t, "the registry to answer", func() bool {
		out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+addr+"/v2/").Output()
		return string(out) == "401"
	})
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM bb\nRUN echo built > /built.txt\n"), 0o644)
	script := `
import docker, io, sys, tarfile
host, reg, ctx = sys.argv[1:4]
c = docker.DockerClient(base_url=host)
box = c.containers.run("bb", ["sh", "-c", "echo started; exec sleep 100"], name="pybox", detach=True)
box.reload()
print("status", box.status)
code, out = box.exec_run(["sh", "-c", "echo in exec; exit 2"])
print("exec", code, out.decode().strip())
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    data = b"put by sdk\n"
    ti = tarfile.TarInfo("put.txt"); ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))
print("put", box.put_archive("/tmp", buf.getvalue()))
stream, stat = box.get_archive("/tmp/put.txt")
tf = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
print("get", stat["name"], tf.extractfile("put.txt").read().decode().strip())
print("logs", box.logs().decode().strip())
box.kill()
print("wait", box.wait()["StatusCode"])
box.remove()
net = c.networks.create("pynet")
print("network", [n.name for n in c.networks.list(names=["pynet"])])
net.remove()
img, _ = c.images.build(path=ctx, tag="pybuilt:1")
print("built", c.containers.run("pybuilt:1", ["cat", "/built.txt"], remove=True).decode().strip())
auth = {"username": "sdkuser", "password": "sdkpass"}
print("login", c.login(registry=reg, **auth)["Status"])
img.tag(reg + "/team/py", "v1")
push = c.images.push(reg + "/team/py", tag="v1", auth_config=auth)
print("pushed", '"digest": "sha256:' in push.replace("'", '"') or "sha256:" in push)
c.images.remove(reg + "/team/py:v1")
print("pulled", c.images.pull(reg + "/team/py", tag="v1", auth_config=auth).tags)
lines = c.api.pull(reg + "/team/py", tag="v1", auth_config={"username": "sdkuser", "password": "wrong"}, stream=True, decode=True)
print("refused", ["unauthorized" in l["error"] for l in lines if "error" in l])
`
	out, err := exec.Command("python3", "-c", script, host, addr, ctxDir).CombinedOutput()
	if err != nil {
		t.Fatalf("python SDK: %v\n%s", err, out)
	}
	want := fmt.Sprintf(`status running
exec 2 in exec
put True
get put.txt put by sdk
logs started
wait 137
network ['pynet']
built built
login Login Succeeded
pushed True
pulled ['%s/team/py:v1']
refused [True]
`, addr)
	if string(out) != want {
		t.Errorf("python SDK printed:\n%s\nwant:\n%s", out, want)
	}
	if out := mustStrata(t, root, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, addr+"/team/py:v1") {
		t.Errorf("strata images after the SDK's pull: %q", out)
	}
}

// docker attach to a running container through the socket: its stdin and
// output from then on, its exit status; a client that goes leaves the
// container running, as dockerd's.
func TestEngineAPIAttachRunning(t *testing.T) {
	cli, root, host := dockerService(t)
	env := append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())

	mustDocker(t, cli, host, "run", "-d", "-i", "--name", "echoer", "bb", "sh", "-c",
		`while read l; do echo "echo:$l"; echo "err:$l" >&2; [ "$l" = quit ] && exit 3; done`)
	cmd := exec.Command(cli, "attach", "echoer")
	cmd.Env = env
	cmd.Stdin = strings.NewReader("hello\nquit\n")
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || so.String() != "echo:hello\necho:quit\n" || se.String() != "err:hello\nerr:quit\n" {
		t.Errorf("docker attach: %v, stdout %q, stderr %q; want exit 3, both lines on each stream", err, so.String(), se.String())
	}

	// A client killed mid-stream: the container runs on.
	mustDocker(t, cli, host, "run", "-d", "--name", "ticker", "bb", "sh", "-c", `i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.05; done`)
	cmd = exec.Command(cli, "attach", "--no-stdin", "--sig-proxy=false", "ticker")
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "tick") {
		t.Errorf("docker attach to a running container printed %q (%v), want its output", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if got := mustStrata(t, root, "inspect", "--format", "{{.State.Status}}", "ticker"); got != "running\n" {
		t.Errorf("after the attached client was killed, ticker is %q, want running", got)
	}
	// A second client attaches again; attach to a stopped one is refused.
	cmd = exec.Command(cli, "attach", "--no-stdin", "ticker")
	cmd.Env = env
	if out, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ = bufio.NewReader(out).ReadString('\n'); !strings.HasPrefix(line, "tick") {
		t.Errorf("second docker attach printed %q", line)
	}
	mustStrata(t, root, "stop", "-t", "1", "ticker")
	if err := cmd.Wait(); err == nil || err.(*exec.ExitError).ExitCode() != 137 {
		t.Errorf("docker attach of a container stopped by SIGKILL ended %v, want exit 137", err)
	}
	if out, err := dockerCLI(t, cli, host, "attach", "ticker"); err == nil || !strings.Contains(out, "cannot attach to a stopped container") {
		t.Errorf("docker attach to a stopped container: %v %q", err, out)
	}
}
