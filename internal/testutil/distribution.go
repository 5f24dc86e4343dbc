package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DistributionBinary is Debian's distribution 2.8 registry.
const DistributionBinary = "/usr/bin/docker-registry"

// Distribution starts docker-registry on a free loopback port, with
// htpasswd (bcrypt) Basic auth when htpasswd names a file, and returns its
// address; it is stopped, by its pid, when the test ends. The test skips
// when the registry is not installed.
func Distribution(t testing.TB, htpasswd string) string {
	t.Helper()
	auth := ""
	if htpasswd != "" {
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", htpasswd)
	}
	return distribution(t, auth)
}

// DistributionToken starts docker-registry as Distribution does, with
// token auth against the token server ts.
func DistributionToken(t testing.TB, ts *TokenServer) string {
	t.Helper()
	return distribution(t, fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
		ts.URL, ts.Service, ts.Issuer, ts.Bundle))
}

func distribution(t testing.TB, auth string) string {
	t.Helper()
	if _, err := os.Stat(DistributionBinary); err != nil {
		t.Skipf("skipping %s: needs %s (apt-get install docker-registry)", t.Name(), DistributionBinary)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfg += auth
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(DistributionBinary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	if !Poll(Patience, func() bool { return Accepts(addr) }) {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("docker-registry did not listen on %s: %s", addr, b)
	}
	return addr
}
