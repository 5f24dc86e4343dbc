package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/testutil"
)

// conformanceRunner finds ../shared/tools/oci-conformance/run.sh next to
// the module root.
func conformanceRunner(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("conformance suite needs the go tool to build the runner; go is not on PATH")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("conformance suite: no go.mod above the test directory")
		}
		dir = parent
	}
	run := filepath.Join(dir, "..", "shared", "tools", "oci-conformance", "run.sh")
	if _, err := os.Stat(run); err != nil {
		t.Skipf("conformance suite: runner %s is missing", run)
	}
	return run
}

var summaryLine = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed, (\d+) skipped$`)

// runConformance runs the official OCI distribution-spec conformance suite
// (all workflows, spec 1.1 profile) against url and requires 0 failed and
// 0 skipped.
func runConformance(t *testing.T, url string, env []string, args ...string) {
	t.Helper()
	run := conformanceRunner(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{run, url}, args...)...)
	// Upload cancel (DELETE of an upload) is implemented but off in the
	// suite's 1.1 profile, where it would count as 2 skips: turn it on.
	env = append([]string{"FAIL_ON_FAILURE=1", "OUT_DIR=" + out, "OCI_API_BLOBS_UPLOAD_CANCEL=true"}, env...)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	m := summaryLine.FindAllSubmatch(b, -1)
	if err != nil || len(m) == 0 || string(m[len(m)-1][2]) != "0" || string(m[len(m)-1][3]) != "0" {
		fails, _ := os.ReadFile(filepath.Join(out, "failures.txt"))
		junit, _ := os.ReadFile(filepath.Join(out, "junit.xml"))
		var skipped []string
		for _, l := range strings.Split(string(junit), "\n") {
			if strings.Contains(l, `status="skipped"`) {
				skipped = append(skipped, strings.TrimSpace(l))
			}
		}
		t.Fatalf("conformance %s: %v\n%s\nfailures:\n%s\nskipped:\n%s", url, err, b, fails, strings.Join(skipped, "\n"))
	}
	t.Logf("conformance %s: %s", url, m[len(m)-1][0])
}

// deletes is what the suite's content-management workflow needs.
var deletes = AccessPolicy{Delete: true}

func TestConformanceAnonymous(t *testing.T) {
	_, srv := newTestRegistry(t, Options{AccessPolicy: deletes})
	runConformance(t, srv.URL, nil)
}

// TestConformanceDev runs the suite's development profile too: digest
// headers required on blob and manifest responses, ?tag= on manifest puts.
func TestConformanceDev(t *testing.T) {
	_, srv := newTestRegistry(t, Options{AccessPolicy: deletes})
	runConformance(t, srv.URL, []string{"OCI_VERSION=dev"})
}

// TestConformanceHtpasswd runs the suite as a user an access policy lets
// push and delete under conformance/** (and no more: nobody is admin, and
// everything else is pull-only); TestConformanceTLS covers htpasswd
// without a policy.
func TestConformanceHtpasswd(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, pw, map[string]string{"alice": "s3cret pass", "bob": "other"})
	policy := AccessPolicy{Delete: true, Access: []AccessRule{
		{Repos: []string{"conformance/**"}, Users: []string{"alice"}, Actions: []Action{ActionPull, ActionPush, ActionDelete}},
		{Repos: []string{"**"}, Users: []string{"*"}, Actions: []Action{ActionPull}},
	}}
	_, srv := newTestRegistry(t, Options{HtpasswdPath: pw, Realm: "test", AccessPolicy: policy})
	runConformance(t, srv.URL, nil, "alice", "s3cret pass")
}

// TestConformanceTLS runs Serve itself (TLS from cert and key files made
// here) and the suite over HTTPS.
func TestConformanceTLS(t *testing.T) {
	conformanceRunner(t)
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	pw := filepath.Join(dir, "htpasswd")
	writeHtpasswd(t, pw, map[string]string{"alice": "pw"})
	addr := freeAddr(t)
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, store, filepath.Join(dir, "registry"), Options{Addr: addr, TLSCert: certFile, TLSKey: keyFile, HtpasswdPath: pw, AccessPolicy: deletes})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	waitListening(t, addr, done)
	// OCI_TLS=insecure is parsed by this suite version but never turns off
	// verification, so the runner trusts our certificate instead
	// (SSL_CERT_FILE is honoured by Go's crypto/x509 on Linux).
	runConformance(t, "https://"+addr, []string{"OCI_TLS=insecure", "SSL_CERT_FILE=" + certFile}, "alice", "pw")
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitListening(t testing.TB, addr string, done chan error) {
	t.Helper()
	if !testutil.Poll(testutil.Patience, func() bool {
		select {
		case err := <-done:
			done <- err // for the clean-up that waits on it
			t.Fatalf("Serve ended early: %v", err)
		default:
		}
		return testutil.Accepts(addr)
	}) {
		t.Fatalf("registry did not listen on %s", addr)
	}
}

func writeSelfSigned(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
