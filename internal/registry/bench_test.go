package registry

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// benchGet issues req repeatedly over keep-alive connections (parallel, as
// a registry is used) and checks the status.
func benchGet(b *testing.B, srv *httptest.Server, method, path, user, pass string, want int) {
	b.Helper()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest(method, srv.URL+path, nil)
			if user != "" {
				r.SetBasicAuth(user, pass)
			}
			res, err := client.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

func benchImage(b *testing.B, opts Options, user, pass string) (*httptest.Server, []byte) {
	_, srv := newTestRegistry(b, Options{})
	img, _ := testImage(b, srv, "bench/app", randomBytes(b, 1<<20), nil)
	if r := putManifest(b, srv, "bench/app", "latest", img); r.status != http.StatusCreated {
		b.Fatalf("put: %d", r.status)
	}
	return srv, img
}

func BenchmarkGetManifestByTag(b *testing.B) {
	srv, _ := benchImage(b, Options{}, "", "")
	benchGet(b, srv, "GET", "/v2/bench/app/manifests/latest", "", "", http.StatusOK)
}

func BenchmarkHeadManifestByTag(b *testing.B) {
	srv, _ := benchImage(b, Options{}, "", "")
	benchGet(b, srv, "HEAD", "/v2/bench/app/manifests/latest", "", "", http.StatusOK)
}

func BenchmarkHeadBlob(b *testing.B) {
	_, srv := newTestRegistry(b, Options{})
	dgst := pushBlob(b, srv, "bench/app", randomBytes(b, 1<<20))
	benchGet(b, srv, "HEAD", "/v2/bench/app/blobs/"+dgst.String(), "", "", http.StatusOK)
}

func BenchmarkGetBlob1MiB(b *testing.B) {
	_, srv := newTestRegistry(b, Options{})
	dgst := pushBlob(b, srv, "bench/app", randomBytes(b, 1<<20))
	b.SetBytes(1 << 20)
	benchGet(b, srv, "GET", "/v2/bench/app/blobs/"+dgst.String(), "", "", http.StatusOK)
}

// BenchmarkGetManifestAuth is BenchmarkGetManifestByTag with htpasswd at
// bcrypt cost 10 (the htpasswd default): the credential cache should keep
// it near the anonymous figure.
func BenchmarkGetManifestAuth(b *testing.B) {
	pw := filepath.Join(b.TempDir(), "htpasswd")
	writeHtpasswd(b, pw, map[string]string{"alice": "secret"})
	_, srv := newTestRegistry(b, Options{HtpasswdPath: pw})
	img, _ := testImageAuth(b, srv)
	if r := do(b, srv, req{method: "PUT", path: "/v2/bench/app/manifests/latest", body: img, user: "alice", pass: "secret",
		header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}}); r.status != http.StatusCreated {
		b.Fatalf("put: %d %s", r.status, r.body)
	}
	benchGet(b, srv, "GET", "/v2/bench/app/manifests/latest", "alice", "secret", http.StatusOK)
}

// testImageAuth pushes a one-layer image with credentials.
func testImageAuth(b *testing.B, srv *httptest.Server) ([]byte, error) {
	cfg := []byte(`{}`)
	for _, blob := range [][]byte{cfg} {
		r := do(b, srv, req{method: "POST", path: "/v2/bench/app/blobs/uploads/?digest=" + digestOf(blob), body: blob, user: "alice", pass: "secret"})
		if r.status != http.StatusCreated {
			b.Fatalf("push: %d", r.status)
		}
	}
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digestOf(cfg) + `","size":2},"layers":[]}`), nil
}

// fillIndex records count tags on one repository (and count repositories)
// straight into the index: 10,000 HTTP puts would time the fsyncs, not the
// listing.
func fillIndex(b *testing.B, g *Registry, count int) {
	b.Helper()
	err := g.db.Update(func(tx *bolt.Tx) error {
		rb, err := repoBucket(tx, "bench/app", true)
		if err != nil {
			return err
		}
		for i := range count {
			if err := rb.Bucket(bucketTags).Put([]byte(fmt.Sprintf("v%06d", i)), []byte(testDigest)); err != nil {
				return err
			}
			if _, err := repoBucket(tx, fmt.Sprintf("repo/%06d", i), true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTagsList10k: a 100-tag page from the middle and the whole
// 10,000-tag list, and a catalog page among 10,000 repositories.
func BenchmarkTagsList10k(b *testing.B) {
	g, srv := newTestRegistry(b, Options{})
	fillIndex(b, g, 10000)
	for _, bc := range []struct{ name, path string }{
		{"page100", "/v2/bench/app/tags/list?n=100&last=v005000"},
		{"all", "/v2/bench/app/tags/list?n=10000"},
		{"catalog100", "/v2/_catalog?n=100&last=repo/005000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchGet(b, srv, "GET", bc.path, "", "", http.StatusOK)
		})
	}
}
