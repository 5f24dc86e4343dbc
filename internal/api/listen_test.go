package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/api"
	"github.com/strata-project/strata/internal/errdefs"
)

// certs writes a CA and a server and a client certificate it signs (PEM)
// into dir, and returns the CA's pool and the client's key pair.
func certs(t *testing.T, dir string) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		write(name+"-cert.pem", "CERTIFICATE", der)
		write(name+"-key.pem", "EC PRIVATE KEY", kder)
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth)
	client := leaf("client", 3, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, client
}

// tcp:// is served on loopback, or elsewhere only with --tlsverify; with
// it, a client without a certificate the CA signed is turned away.
func TestListenTCPAndTLS(t *testing.T) {
	if _, err := api.Listen("tcp://192.0.2.1:2375", nil); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "--tlsverify") {
		t.Errorf("a non-loopback address without TLS: %v, want a refusal naming --tlsverify", err)
	}
	dir := t.TempDir()
	pool, client := certs(t, dir)
	if _, err := api.TLSConfig(filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem"), "", true); err == nil || !strings.Contains(err.Error(), "--tlscacert") {
		t.Errorf("--tlsverify without a CA: %v", err)
	}
	plain, err := api.TLSConfig(filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem"), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Listen("tcp://192.0.2.1:2375", plain); !errdefs.IsInvalidArgument(err) {
		t.Errorf("a non-loopback address with TLS but no client verification: %v, want a refusal", err)
	}
	cfg, err := api.TLSConfig(filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem"), filepath.Join(dir, "ca.pem"), true)
	if err != nil {
		t.Fatal(err)
	}
	l, err := api.Listen("tcp://127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := "https://" + l.Addr().String() + "/_ping"
	get := func(certs ...tls.Certificate) (string, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(client); err != nil || body != "OK" {
		t.Errorf("with the client certificate: %q %v", body, err)
	}
	if _, err := get(); err == nil {
		t.Errorf("without a client certificate: served, want the handshake refused")
	}
}

// A socket path someone serves on is refused; one left by a dead server
// is replaced; a path that is not a socket is left alone.
func TestListenUnixSocketInUse(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "docker.sock")
	l, err := api.Listen("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v, want 0660", fi.Mode(), err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := api.Listen("unix://"+sock, nil); !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), "another server is already serving") {
		t.Errorf("a live socket: %v, want a refusal", err)
	}
	// A dead server's socket: the file stays, nobody answers.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l2, err := api.Listen("unix://"+sock, nil)
	if err != nil {
		t.Fatalf("a stale socket: %v, want it replaced", err)
	}
	l2.Close()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := api.Listen("unix://"+file, nil); !errdefs.IsAlreadyExists(err) {
		t.Errorf("a regular file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the file was changed: %q", b)
	}
}
