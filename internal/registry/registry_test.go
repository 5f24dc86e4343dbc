package registry

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/strata-project/strata/internal/content"
)

// newTestRegistry starts a registry on a loopback httptest server with a
// fresh store and index; both stop at the end of the test.
func newTestRegistry(t testing.TB, opts Options) (*Registry, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(store, filepath.Join(dir, "registry"), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	return g, srv
}

// writeHtpasswd writes an htpasswd file with bcrypt cost 5 (the minimum
// bcrypt allows is 4; 5 keeps tests fast while exercising the real path).
func writeHtpasswd(t testing.TB, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for u, p := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(p), 5)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":" + string(h) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

type req struct {
	method, path string
	body         []byte
	header       map[string]string
	user, pass   string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, srv *httptest.Server, r req) resp {
	t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, srv.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.user != "" {
		hr.SetBasicAuth(r.user, r.pass)
	}
	res, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// errCode returns the first error code of a spec error body.
func errCode(b []byte) string {
	const k = `"code":"`
	i := bytes.Index(b, []byte(k))
	if i < 0 {
		return ""
	}
	rest := b[i+len(k):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
