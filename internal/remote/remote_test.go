package remote

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

func TestParseChallenge(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     challenge
	}{
		{"basic", `Basic realm="strata"`, challenge{Scheme: "basic", Params: map[string]string{"realm": "strata"}}},
		{"bearer", `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"`,
			challenge{Scheme: "bearer", Params: map[string]string{"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push"}}},
		{"unquoted and escaped", `Bearer realm=https://x/t, error="insufficient_scope", service="a\"b"`,
			challenge{Scheme: "bearer", Params: map[string]string{"realm": "https://x/t", "error": "insufficient_scope", "service": `a"b`}}},
		{"empty", ``, challenge{Scheme: "", Params: map[string]string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseChallenge(tc.in)); diff != "" {
				t.Errorf("parseChallenge(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestPlainHTTP(t *testing.T) {
	insecure := []string{"reg.internal:5000", "10.1.0.0/16", "http://plain.example"}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost:5000", true}, {"127.0.0.1:5000", true}, {"127.8.9.1", true}, {"[::1]:5000", true},
		{"reg.internal:5000", true}, {"reg.internal:5001", false}, {"10.1.2.3:443", true}, {"10.2.0.1", false},
		{"plain.example", true}, {"registry-1.docker.io", false}, {"ghcr.io", false},
	} {
		if got := plainHTTP(tc.host, insecure); got != tc.want {
			t.Errorf("plainHTTP(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestRangeEnd(t *testing.T) {
	for in, want := range map[string]int64{"0-0": 0, "0-99": 100, "bytes=0-1023": 1024, "": 0, "junk": 0} {
		if got := rangeEnd(in); got != want {
			t.Errorf("rangeEnd(%q) = %d, want %d", in, got, want)
		}
	}
	if n, ok := contentRangeStart("bytes 100-199/200"); !ok || n != 100 {
		t.Errorf("contentRangeStart = %d, %v", n, ok)
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"":                            DockerHub,
		"docker.io":                   DockerHub,
		"index.docker.io":             DockerHub,
		"registry-1.docker.io":        DockerHub,
		"https://index.docker.io/v1/": DockerHub,
		"reg:5000":                    "reg:5000",
		"https://reg:5000/v2/":        "reg:5000",
		"http://127.0.0.1:5000":       "127.0.0.1:5000",
	} {
		if got := HostOf(in); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	orig := `{"auths":{"https://other.example/v1/":{"auth":"dTpw"}},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"x"}}}`
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &ConfigFile{Path: path}
	if c, err := f.Get(ctx, "other.example"); err != nil || c != (Credential{Username: "u", Password: "p"}) {
		t.Fatalf("Get of a docker-written key: %+v, %v", c, err)
	}
	if err := f.Store(ctx, "127.0.0.1:5000", Credential{Username: "alice", Password: "s3:cret"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.Get(ctx, "127.0.0.1:5000")
	if err != nil || got != (Credential{Username: "alice", Password: "s3:cret"}) {
		t.Errorf("Get after Store: %+v, %v", got, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600 (%v)", fi.Mode(), err)
	}
	var raw map[string]json.RawMessage
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"psFormat", "proxies", "auths"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("key %q lost on rewrite: %s", k, b)
		}
	}
	var auths map[string]map[string]string
	json.Unmarshal(raw["auths"], &auths)
	if auths["127.0.0.1:5000"]["auth"] != "YWxpY2U6czM6Y3JldA==" {
		t.Errorf("auths entry %v, want docker's base64 user:password", auths["127.0.0.1:5000"])
	}
	if ok, err := f.Erase(ctx, "127.0.0.1:5000"); !ok || err != nil {
		t.Errorf("Erase: %v, %v", ok, err)
	}
	if c, _ := f.Get(ctx, "127.0.0.1:5000"); !c.Empty() {
		t.Errorf("credential left after Erase: %+v", c)
	}
	if ok, _ := f.Erase(ctx, "127.0.0.1:5000"); ok {
		t.Error("second Erase found something")
	}
}

func TestCredentialHelper(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A helper that stores one record in a file, per the protocol.
	helper := `#!/bin/sh
store=` + dir + `/helper.json
case "$1" in
get) read host; if [ -f $store ] && grep -q "\"$host\"" $store; then sed 's/"ServerURL":"[^"]*",//' $store; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) cat > $store ;;
erase) rm -f $store ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-test"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte(`{"credHelpers":{"reg.example:5000":"test"}}`), 0o600)
	f := &ConfigFile{Path: path}
	if c, err := f.Get(ctx, "reg.example:5000"); err != nil || !c.Empty() {
		t.Fatalf("Get before store: %+v, %v", c, err)
	}
	if err := f.Store(ctx, "reg.example:5000", Credential{Username: "bob", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if c, err := f.Get(ctx, "reg.example:5000"); err != nil || c != (Credential{Username: "bob", Password: "pw"}) {
		t.Errorf("Get through the helper: %+v, %v", c, err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"credHelpers":{"reg.example:5000":"test"}}` {
		t.Errorf("config rewritten although a helper holds the secret: %s", b)
	}
}

func TestLoopbackTLSAndCAFiles(t *testing.T) {
	ctx := context.Background()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	var schemes []string
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		schemes = append(schemes, map[bool]string{true: "https", false: "http"}[r.TLS != nil])
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/manifests/v1") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(body)
		}
	})
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		want string
	}{
		{"https when the registry speaks it", httptest.NewTLSServer(h), "https"},
		{"plain http otherwise", httptest.NewServer(h), "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.srv.Close()
			mu.Lock()
			schemes = nil
			mu.Unlock()
			host := strings.TrimPrefix(strings.TrimPrefix(tc.srv.URL, "https://"), "http://")
			named, _ := reference.ParseNormalizedNamed(host + "/a/b")
			repo, err := New(WithCredentials(nil), WithInsecure()).Repository(ctx, named, false)
			if err != nil {
				t.Fatal(err)
			}
			desc, got, err := repo.FetchManifest(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(body) || desc.Digest != digest.FromBytes(body) {
				t.Errorf("manifest %s %q", desc.Digest, got)
			}
			mu.Lock()
			defer mu.Unlock()
			if schemes[len(schemes)-1] != tc.want {
				t.Errorf("requests went over %v, want the last over %s", schemes, tc.want)
			}
		})
	}

	// A registry's own CA file makes its certificate trusted.
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	dir := t.TempDir()
	old := CertDirs
	CertDirs = []string{filepath.Join(dir, "none"), dir}
	defer func() { CertDirs = old }()
	if err := os.MkdirAll(filepath.Join(dir, "reg.example:5000"), 0o755); err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "reg.example:5000", "ca.crt"), pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsConfig("reg.example:5000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Certificate().Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: "example.com"}); err != nil {
		t.Errorf("certificate not trusted with the CA file: %v", err)
	}
	cfg, _ = tlsConfig("other.example")
	if _, err := srv.Certificate().Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: "example.com"}); err == nil {
		t.Error("another registry trusts the CA file too")
	}
}
