package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// docker-compose 1.29 (Debian's, through docker-py) drives a project
// through the socket: a web service built from a Dockerfile with a port
// published on the host's loopback, a client service that reaches it by
// name on the project's network, a named volume both mount, then ps,
// logs, exec and down -v.
func TestEngineAPICompose(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("skipping: no docker-compose (scripts/setup.sh installs Debian's)")
	}
	_, root, host := dockerService(t)
	// busybox's static wget cannot resolve names here; the client is
	// Debian, whose bash reaches web through /dev/tcp.
	mustStrata(t, root, "import", "-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", testutil.DebianRootfs(t), "deb:latest")

	dir := t.TempDir()
	port := freePort(t)
	os.MkdirAll(filepath.Join(dir, "web"), 0o755)
	for name, data := range map[string]string{
		"web/Dockerfile": "FROM bb\nCOPY index.html /www/index.html\nCMD [\"sh\", \"-c\", \"echo web ready; exec httpd -f -v -p 80 -h /www\"]\n",
		"web/index.html": "hello from compose\n",
		"docker-compose.yml": fmt.Sprintf(`version: "3.7"
services:
  web:
    build: ./web
    ports:
      - "127.0.0.1:%d:80"
    volumes:
      - data:/data
  client:
    image: deb
    command: ["sleep", "1000"]
    depends_on: [web]
    volumes:
      - data:/shared
volumes:
  data:
`, port),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	project := fmt.Sprintf("ct%d", port)
	compose := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"-p", project, "--ansi", "never"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir(), "COMPOSE_HTTP_TIMEOUT=300")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustCompose := func(args ...string) string {
		t.Helper()
		out, err := compose(args...)
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	t.Cleanup(func() { compose("down", "-v", "-t", "0") })

	mustCompose("up", "-d")
	web, client := project+"_web_1", project+"_client_1"
	if out := mustCompose("ps"); !strings.Contains(out, web) || !strings.Contains(out, client) || strings.Count(out, " Up ") != 2 {
		t.Errorf("docker-compose ps:\n%s", out)
	}
	if out := mustStrata(t, root, "ps", "--format", "{{.Names}}"); !strings.Contains(out, web) || !strings.Contains(out, client) {
		t.Errorf("strata ps after docker-compose up: %q", out)
	}
	// The published port, from the host's loopback.
	testutil.WaitFor(t, "the published port to answer", func() bool {
		out, _ := exec.Command("curl", "-sf", fmt.Sprintf("http://127.0.0.1:%d/", port)).Output()
		return string(out) == "hello from compose\n"
	})
	// The client reaches web by its service name.
	fetch := `exec 3<>/dev/tcp/web/80 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3`
	var got string
	testutil.WaitFor(t, "client to reach web by name", func() bool {
		got, _ = compose("exec", "-T", "client", "bash", "-c", fetch)
		return strings.Contains(got, "hello from compose")
	})
	if out := mustCompose("logs", "--no-color", "web"); !regexp.MustCompile(`web_1 +\| web ready`).MatchString(out) {
		t.Errorf("docker-compose logs web:\n%s", out)
	}
	// The named volume: what web writes, client reads; strata lists it.
	mustCompose("exec", "-T", "web", "sh", "-c", "echo kept > /data/f")
	if out := mustCompose("exec", "-T", "client", "cat", "/shared/f"); out != "kept\n" {
		t.Errorf("the named volume, read by client: %q", out)
	}
	if out := mustStrata(t, root, "volume", "ls", "--format", "{{.Name}}"); !strings.Contains(out, project+"_data") {
		t.Errorf("strata volume ls after docker-compose up: %q", out)
	}
	if out, err := compose("exec", "-T", "client", "bash", "-c", "exit 4"); err == nil || err.(*exec.ExitError).ExitCode() != 4 {
		t.Errorf("docker-compose exec's exit status: %v %q, want 4", err, out)
	}

	mustCompose("down", "-v", "-t", "1")
	if out := mustStrata(t, root, "ps", "-aq"); out != "" {
		t.Errorf("after docker-compose down, strata ps -a: %q", out)
	}
	if out := mustStrata(t, root, "volume", "ls", "--format", "{{.Name}}"); strings.Contains(out, project) {
		t.Errorf("after docker-compose down -v, the project's volume is left: %q", out)
	}
	if out := mustStrata(t, root, "network", "ls", "--format", "{{.Name}}"); strings.Contains(out, project) {
		t.Errorf("after docker-compose down, the project's network is left: %q", out)
	}
}
