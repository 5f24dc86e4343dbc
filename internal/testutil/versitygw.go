package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// ToolsBin is where scripts/install-clients.sh caches the Go-built tools.
func ToolsBin() string {
	if d := os.Getenv("STRATA_TOOLS_BIN"); d != "" {
		return d
	}
	return "/var/cache/strata-tools/bin"
}

// VersityGW is a versitygw S3 gateway serving a temporary directory on a
// loopback port: a real S3 server for the registry's S3 back end.
type VersityGW struct {
	Endpoint, AccessKey, SecretKey string

	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	log  *os.File
}

// Versity starts a versitygw for the test (stopped, by its pid, when the
// test ends). Without the binary the test fails in CI and skips elsewhere.
func Versity(t testing.TB) *VersityGW {
	t.Helper()
	bin := filepath.Join(ToolsBin(), "versitygw")
	if _, err := os.Stat(bin); err != nil {
		if p, perr := exec.LookPath("versitygw"); perr == nil {
			bin = p
		} else {
			Needs(t, "versitygw", "scripts/install-clients.sh builds it with go install")
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	v := &VersityGW{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), AccessKey: "strata-test", SecretKey: "strata-test-secret",
		t: t, bin: bin, dir: t.TempDir(), port: port,
	}
	if err := os.MkdirAll(filepath.Join(v.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	v.Start()
	t.Cleanup(v.Stop)
	return v
}

// Start (re)starts the gateway on its port and waits until it accepts
// connections.
func (v *VersityGW) Start() {
	v.t.Helper()
	logf, err := os.OpenFile(filepath.Join(v.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		v.t.Fatal(err)
	}
	cmd := exec.Command(v.bin, "--port", "127.0.0.1:"+strconv.Itoa(v.port), "--access", v.AccessKey, "--secret", v.SecretKey,
		"posix", filepath.Join(v.dir, "data"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		v.t.Fatal(err)
	}
	v.cmd, v.log = cmd, logf
	addr := "127.0.0.1:" + strconv.Itoa(v.port)
	if !Poll(Patience, func() bool { return Accepts(addr) }) {
		b, _ := os.ReadFile(filepath.Join(v.dir, "log"))
		v.t.Fatalf("versitygw did not listen on %s: %s", addr, b)
	}
}

// Stop kills the gateway (its data stays for a Start).
func (v *VersityGW) Stop() {
	if v.cmd == nil {
		return
	}
	v.cmd.Process.Kill()
	v.cmd.Wait()
	v.log.Close()
	v.cmd = nil
}

func (v *VersityGW) String() string { return fmt.Sprintf("versitygw at %s", v.Endpoint) }
