package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// pushBlob uploads data to repo in one POST ?digest= request.
func pushBlob(t testing.TB, srv *httptest.Server, repo string, data []byte) digest.Digest {
	t.Helper()
	dgst := digest.FromBytes(data)
	r := do(t, srv, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + dgst.String(), body: data})
	if r.status != http.StatusCreated {
		t.Fatalf("push blob: status %d: %s", r.status, r.body)
	}
	return dgst
}

// testImage builds an OCI image manifest over a config and one layer.
func testImage(t testing.TB, srv *httptest.Server, repo string, layer []byte, extra func(*ocispec.Manifest)) ([]byte, digest.Digest) {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: pushBlob(t, srv, repo, cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: pushBlob(t, srv, repo, layer), Size: int64(len(layer))}},
	}
	m.SchemaVersion = 2
	if extra != nil {
		extra(&m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, digest.FromBytes(b)
}

func putManifest(t testing.TB, srv *httptest.Server, repo, ref string, body []byte) resp {
	t.Helper()
	return do(t, srv, req{method: "PUT", path: "/v2/" + repo + "/manifests/" + ref, body: body,
		header: map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func chtimes(p string, t time.Time) error { return os.Chtimes(p, t, t) }

// overwrite replaces a read-only blob file's bytes in place.
func overwrite(p string, b []byte) error {
	if err := os.Chmod(p, 0o644); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o444)
}

func digestOf(b []byte) string { return digest.FromBytes(b).String() }
