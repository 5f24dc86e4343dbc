package testcontainers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tc "github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/wait"
)

const busybox = "/bin/busybox" // Debian's busybox-static

var strataBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getuid() != 0 {
		fmt.Println("skipping: the Engine API tests run containers and need root")
		return 0
	}
	for _, need := range []string{busybox, "/usr/sbin/runc"} {
		if _, err := os.Stat(need); err != nil {
			fmt.Printf("skipping: %s is missing (scripts/setup.sh installs it)\n", need)
			return 0
		}
	}
	dir, err := os.MkdirTemp("", "strata-testcontainers-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	strataBin = filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", strataBin, "./cmd/strata")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("build strata: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// service makes a store holding busybox "bb" (with a page under /www),
// serves the Engine API over it and points testcontainers at it.
func service(t *testing.T) (root string) {
	t.Helper()
	root = t.TempDir()
	rootfs := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp", "www", "proc", "sys", "dev"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755)
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(string(list)) {
		if name != "busybox" {
			os.Symlink("busybox", filepath.Join(rootfs, "bin", name))
		}
	}
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "www", "index.html"), []byte("hello from strata\n"), 0o644)
	if out, err := exec.Command(strataBin, "--root", root, "import", "-c", "ENV PATH=/bin", "-c", `CMD ["sh"]`, rootfs, "bb:latest").CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	cmd := exec.Command(strataBin, "--root", root, "system", "service", "unix://"+sock)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "serving the Docker Engine API on ") {
	}
	go io.Copy(io.Discard, stderr)
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// Ports are published on the host's loopback; without this, a test run
	// inside a container (/.dockerenv) would dial the bridge's gateway.
	t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	t.Setenv("HOME", t.TempDir()) // no ~/.testcontainers.properties of the machine's
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	return root
}

// A GenericContainer waits for a log line and a listening port, serves
// through its mapped port, runs an Exec, takes a copied file, and
// Terminate removes it from the store.
func TestGenericContainer(t *testing.T) {
	root := service(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := tc.GenericContainer(ctx, tc.GenericContainerRequest{
		ContainerRequest: tc.ContainerRequest{
			Image:        "bb",
			Cmd:          []string{"sh", "-c", "echo web is ready; exec httpd -f -p 80 -h /www"},
			ExposedPorts: []string{"80/tcp"},
			WaitingFor: wait.ForAll(
				wait.ForLog("web is ready"),
				wait.ForListeningPort("80/tcp"),
			).WithDeadline(2 * time.Minute),
		},
		Started: true,
	})
	if err != nil {
		t.Fatalf("GenericContainer: %v", err)
	}
	terminated := false
	t.Cleanup(func() {
		if !terminated {
			c.Terminate(context.Background())
		}
	})

	host, err := c.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := c.MappedPort(ctx, "80/tcp")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get(fmt.Sprintf("http://%s:%s%s", host, port.Port(), path))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/"); got != "hello from strata\n" {
		t.Errorf("GET / through the mapped port: %q", got)
	}

	code, r, err := c.Exec(ctx, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	out, _ := io.ReadAll(r)
	if code != 3 || !strings.Contains(string(out), "out") || !strings.Contains(string(out), "err") {
		t.Errorf("Exec: code %d, output %q; want 3 with out and err", code, out)
	}

	src := filepath.Join(t.TempDir(), "copied.txt")
	os.WriteFile(src, []byte("copied in\n"), 0o644)
	if err := c.CopyFileToContainer(ctx, src, "/www/copied.txt", 0o644); err != nil {
		t.Fatalf("CopyFileToContainer: %v", err)
	}
	if got := get("/copied.txt"); got != "copied in\n" {
		t.Errorf("the copied file through httpd: %q", got)
	}
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(logs); !strings.Contains(string(b), "web is ready") {
		t.Errorf("Logs: %q", b)
	}

	if err := c.Terminate(ctx); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	terminated = true
	if out, err := exec.Command(strataBin, "--root", root, "ps", "-aq").CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("strata ps -a after Terminate: %v %q", err, out)
	}
}
