package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestManifestTooLarge(t *testing.T) {
	_, srv := newTestRegistry(t, Options{})
	big := append([]byte(`{"schemaVersion":2,"x":"`), bytes.Repeat([]byte("a"), maxManifestSize)...)
	big = append(big, `"}`...)
	r := putManifest(t, srv, "app", "big", big)
	if r.status != http.StatusRequestEntityTooLarge || errCode(r.body) != "MANIFEST_INVALID" {
		t.Fatalf("4 MiB+ manifest with Content-Length: %d %s", r.status, r.body)
	}
	// Without Content-Length (chunked), the cap still holds.
	hr, _ := http.NewRequest("PUT", srv.URL+"/v2/app/manifests/big", io.MultiReader(bytes.NewReader(big)))
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	res, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 4 MiB+ manifest: %d", res.StatusCode)
	}
}

func TestManifestPutErrors(t *testing.T) {
	_, srv := newTestRegistry(t, Options{})
	good, dgst := testImage(t, srv, "app", []byte("layer"), nil)
	missing, _ := testImage(t, srv, "app", []byte("layer"), func(m *ocispec.Manifest) {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("absent"), Size: 6})
	})
	foreign, _ := testImage(t, srv, "app", []byte("layer"), func(m *ocispec.Manifest) {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: digest.FromString("absent"), Size: 6}) //nolint:staticcheck // deprecated but must be accepted
	})
	badData, _ := testImage(t, srv, "app", []byte("layer"), func(m *ocispec.Manifest) {
		m.Config.Data = []byte("not the config")
	})
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromString("no such manifest").String() + `","size":3}]}`)
	tests := []struct {
		name, ref string
		body      []byte
		status    int
		code      string
	}{
		{"good", "v1", good, http.StatusCreated, ""},
		{"good by digest", dgst.String(), good, http.StatusCreated, ""},
		{"digest mismatch", digest.FromString("x").String(), good, http.StatusBadRequest, "DIGEST_INVALID"},
		{"sha512 mismatch", digest.SHA512.FromString("x").String(), good, http.StatusBadRequest, "DIGEST_INVALID"},
		{"missing layer", "v2", missing, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
		{"non-distributable layer", "v3", foreign, http.StatusCreated, ""},
		{"data field mismatch", "v4", badData, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"index child missing", "v5", idx, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
		{"not json", "v6", []byte("{"), http.StatusBadRequest, "MANIFEST_INVALID"},
		{"schema1", "v7", []byte(`{"schemaVersion":1}`), http.StatusBadRequest, "MANIFEST_INVALID"},
		{"bad tag", "-x", good, http.StatusBadRequest, "MANIFEST_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, req{method: "PUT", path: "/v2/app/manifests/" + tt.ref, body: tt.body})
			if r.status != tt.status || errCode(r.body) != tt.code {
				t.Fatalf("got %d %q (%s), want %d %q", r.status, errCode(r.body), r.body, tt.status, tt.code)
			}
		})
	}
}

func TestManifestTagsAndReferrers(t *testing.T) {
	_, srv := newTestRegistry(t, Options{AccessPolicy: AccessPolicy{Delete: true}})
	img, dgst := testImage(t, srv, "app", []byte("layer"), nil)
	if r := putManifest(t, srv, "app", "v1", img); r.status != http.StatusCreated {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	for _, tag := range []string{"b", "a", "c"} {
		putManifest(t, srv, "app", tag, img)
	}
	// Two referrers of different artifact types.
	var sigs []digest.Digest
	for _, at := range []string{"application/vnd.example.sig", "application/vnd.example.sbom"} {
		body, d := testImage(t, srv, "app", []byte("ref "+at), func(m *ocispec.Manifest) {
			m.ArtifactType = at
			m.Subject = &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: dgst, Size: int64(len(img))}
		})
		r := putManifest(t, srv, "app", d.String(), body)
		if r.status != http.StatusCreated || r.header.Get("OCI-Subject") != dgst.String() {
			t.Fatalf("put referrer: %d OCI-Subject %q", r.status, r.header.Get("OCI-Subject"))
		}
		sigs = append(sigs, d)
	}
	r := do(t, srv, req{method: "GET", path: "/v2/app/referrers/" + dgst.String() + "?artifactType=application/vnd.example.sig"})
	var idx ocispec.Index
	if err := json.Unmarshal(r.body, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sigs[0] || r.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered referrers: %s %v", r.body, r.header)
	}
	r = do(t, srv, req{method: "GET", path: "/v2/app/referrers/" + dgst.String()})
	_ = json.Unmarshal(r.body, &idx)
	if len(idx.Manifests) != 2 {
		t.Fatalf("referrers: %s", r.body)
	}

	// Paging: n and last, with a Link to the next page.
	r = do(t, srv, req{method: "GET", path: "/v2/app/tags/list?n=2"})
	if diff := cmp.Diff(`{"name":"app","tags":["a","b"]}`, string(r.body)); diff != "" {
		t.Errorf("page 1 (-want +got)\n%s", diff)
	}
	if !strings.Contains(r.header.Get("Link"), "last=b") {
		t.Errorf("Link %q", r.header.Get("Link"))
	}
	r = do(t, srv, req{method: "GET", path: "/v2/app/tags/list?n=2&last=b"})
	if diff := cmp.Diff(`{"name":"app","tags":["c","v1"]}`, string(r.body)); diff != "" {
		t.Errorf("page 2 (-want +got)\n%s", diff)
	}
	if r.header.Get("Link") != "" {
		t.Errorf("Link on the last page: %q", r.header.Get("Link"))
	}

	// Deleting a tag leaves the manifest.
	if r := do(t, srv, req{method: "DELETE", path: "/v2/app/manifests/v1"}); r.status != http.StatusAccepted {
		t.Fatalf("tag delete: %d", r.status)
	}
	if r := do(t, srv, req{method: "GET", path: "/v2/app/manifests/v1"}); r.status != http.StatusNotFound {
		t.Fatalf("deleted tag: %d", r.status)
	}
	if r := do(t, srv, req{method: "GET", path: "/v2/app/manifests/" + dgst.String()}); r.status != http.StatusOK || !bytes.Equal(r.body, img) {
		t.Fatalf("manifest after tag delete: %d", r.status)
	}
	// Deleting by digest drops the remaining tags.
	do(t, srv, req{method: "DELETE", path: "/v2/app/manifests/" + dgst.String()})
	r = do(t, srv, req{method: "GET", path: "/v2/app/tags/list"})
	if diff := cmp.Diff(`{"name":"app","tags":[]}`, string(r.body)); diff != "" {
		t.Errorf("tags after manifest delete (-want +got)\n%s", diff)
	}
	r = do(t, srv, req{method: "GET", path: "/v2/_catalog?n=10"})
	if diff := cmp.Diff(`{"repositories":["app"]}`, string(r.body)); diff != "" {
		t.Errorf("catalog (-want +got)\n%s", diff)
	}
}

func TestReadOnly(t *testing.T) {
	_, srv := newTestRegistry(t, Options{ReadOnly: true})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		r := do(t, srv, req{method: m, path: "/v2/app/blobs/uploads/"})
		if r.status != http.StatusMethodNotAllowed || errCode(r.body) != "UNSUPPORTED" {
			t.Errorf("%s: %d %s", m, r.status, r.body)
		}
	}
	if r := do(t, srv, req{method: "GET", path: "/v2/"}); r.status != http.StatusOK {
		t.Errorf("GET /v2/: %d", r.status)
	}
}

func TestInvalidNamesOverHTTP(t *testing.T) {
	_, srv := newTestRegistry(t, Options{})
	for _, p := range []string{
		"/v2/../../etc/manifests/latest",
		"/v2/a/%2e%2e/%2e%2e/b/manifests/latest",
		"/v2/UPPER/tags/list",
		"/v2/a/blobs/sha256:%2e%2e%2f%2e%2e",
	} {
		r := do(t, srv, req{method: "GET", path: p})
		if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

// FuzzDecodeManifest: an accepted manifest is valid JSON of a known media
// type, its recorded size is its length, every digest it asks for is
// valid, and decoding is deterministic.
func FuzzDecodeManifest(f *testing.F) {
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a/b","digest":"`+testDigest+`","size":0},"layers":[]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"a/b","digest":"`+testDigest+`","size":0}]}`))
	f.Add(mediaTypeDockerManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a","digest":"`+testDigest+`","size":1,"data":"YQ=="}}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p, err := decodeManifest(ct, body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatal("invalid JSON accepted")
		}
		switch p.mediaType {
		case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList:
		default:
			t.Fatalf("media type %q accepted", p.mediaType)
		}
		if p.record.Size != int64(len(body)) {
			t.Fatalf("size %d of %d bytes", p.record.Size, len(body))
		}
		for _, d := range append(append([]digest.Digest{}, p.mustExist...), p.children...) {
			if d.Validate() != nil {
				t.Fatalf("invalid digest %q accepted", d)
			}
		}
		q, err := decodeManifest(ct, body)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p.record, q.record); diff != "" {
			t.Fatalf("not deterministic (-first +second)\n%s", diff)
		}
	})
}

func TestAcceptable(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		mt     string
		want   bool
	}{
		{"no accept", nil, ocispec.MediaTypeImageIndex, true},
		{"image always", []string{"text/plain"}, ocispec.MediaTypeImageManifest, true},
		{"index listed", []string{ocispec.MediaTypeImageManifest + ", " + ocispec.MediaTypeImageIndex}, ocispec.MediaTypeImageIndex, true},
		{"index with params", []string{ocispec.MediaTypeImageIndex + ";q=0.5"}, ocispec.MediaTypeImageIndex, true},
		{"wildcard", []string{"*/*"}, mediaTypeDockerManifestList, true},
		{"index not listed", []string{ocispec.MediaTypeImageManifest, mediaTypeDockerManifest}, ocispec.MediaTypeImageIndex, false},
		{"list not listed", []string{ocispec.MediaTypeImageIndex}, mediaTypeDockerManifestList, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptable(tt.accept, tt.mt); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
