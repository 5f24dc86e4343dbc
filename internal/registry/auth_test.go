package registry

import (
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

func TestAuth(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, pw, map[string]string{"alice": "secret"})
	var log testutil.SyncBuffer
	_, srv := newTestRegistry(t, Options{HtpasswdPath: pw, Realm: "test realm", AccessLog: &log})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, auth string
		status     int
	}{
		{"none", "", http.StatusUnauthorized},
		{"good", "Basic " + b64("alice:secret"), http.StatusOK},
		{"wrong password", "Basic " + b64("alice:nope"), http.StatusUnauthorized},
		{"unknown user", "Basic " + b64("mallory:secret"), http.StatusUnauthorized},
		{"no colon", "Basic " + b64("alicesecret"), http.StatusUnauthorized},
		{"not base64", "Basic !!!!", http.StatusUnauthorized},
		{"empty basic", "Basic ", http.StatusUnauthorized},
		{"bearer", "Bearer abc", http.StatusUnauthorized},
		{"no scheme", b64("alice:secret"), http.StatusUnauthorized},
		{"huge", "Basic " + strings.Repeat("A", 8000), http.StatusUnauthorized},
		{"password with colon prefix", "Basic " + b64("alice::secret"), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := do(t, srv, req{method: "GET", path: "/v2/", header: h})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if r.status == http.StatusUnauthorized {
				if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="test realm"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if errCode(r.body) != "UNAUTHORIZED" {
					t.Errorf("body %s", r.body)
				}
			}
		})
	}
	testutil.WaitFor(t, "alice's request and the 401 in the access log", func() bool {
		return strings.Contains(log.String(), `user="alice" GET repo=- status=200`) && strings.Contains(log.String(), "status=401")
	})
}

func TestAccessLogBlob(t *testing.T) {
	var log testutil.SyncBuffer
	_, srv := newTestRegistry(t, Options{AccessLog: &log})
	data := randomBytes(t, 100000)
	dgst := pushBlob(t, srv, "app/x", data)
	do(t, srv, req{method: "GET", path: "/v2/app/x/blobs/" + dgst.String()})
	testutil.WaitFor(t, "the blob GET in the access log", func() bool {
		return strings.Contains(log.String(), `GET repo=app/x status=200 bytes=100000`)
	})
}
