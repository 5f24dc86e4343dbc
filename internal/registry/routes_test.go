package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
		err  error
	}{
		{"/v2/", route{Kind: routeBase}, nil},
		{"/v2", route{Kind: routeBase}, nil},
		{"/v2/_catalog", route{Kind: routeCatalog}, nil},
		{"/v2/a/b/c/tags/list", route{Kind: routeTags, Name: "a/b/c"}, nil},
		{"/v2/app/manifests/v1.0", route{Kind: routeManifest, Name: "app", Tag: "v1.0"}, nil},
		{"/v2/app/manifests/" + testDigest, route{Kind: routeManifest, Name: "app", Digest: testDigest}, nil},
		{"/v2/blobs/blobs/" + testDigest, route{Kind: routeBlob, Name: "blobs", Digest: testDigest}, nil},
		{"/v2/x/manifests/blobs/" + testDigest, route{Kind: routeBlob, Name: "x/manifests", Digest: testDigest}, nil},
		{"/v2/app/blobs/uploads/", route{Kind: routeUploads, Name: "app"}, nil},
		{"/v2/app/blobs/uploads/0123456789abcdef0123456789abcdef", route{Kind: routeUpload, Name: "app", ID: "0123456789abcdef0123456789abcdef"}, nil},
		{"/v2/app/referrers/" + testDigest, route{Kind: routeReferrers, Name: "app", Digest: testDigest}, nil},
		{"/strata/v1/gc", route{Kind: routeAdminGC}, nil},
		{"/v2/../etc/manifests/latest", route{}, errNameInvalid},
		{"/v2/a/../../b/manifests/latest", route{}, errNameInvalid},
		{"/v2//a/manifests/latest", route{}, errNameInvalid},
		{"/v2/a//b/manifests/latest", route{}, errNameInvalid},
		{"/v2/App/manifests/latest", route{}, errNameInvalid},
		{"/v2/a./manifests/latest", route{}, errNameInvalid},
		{"/v2/" + strings.Repeat("a", 256) + "/tags/list", route{}, errNameInvalid},
		{"/v2/app/manifests/../../x", route{}, errNotFound},
		{"/v2/app/manifests/..", route{}, errManifestInvalid},
		{"/v2/app/manifests/-bad", route{}, errManifestInvalid},
		{"/v2/app/blobs/sha256:../../etc/passwd", route{}, errNotFound},
		{"/v2/app/blobs/sha256:abc", route{}, errDigestInvalid},
		{"/v2/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", route{}, errDigestInvalid},
		{"/v2/app/manifests/sha256:baddigeststring", route{}, errDigestInvalid},
		{"/v2/app/blobs/uploads/../../x", route{}, errNotFound},
		{"/v2/app/blobs/sha256:..%2F..", route{}, errDigestInvalid},
		{"/v2/app/blobs/uploads/ABC", route{}, errBlobUploadUnknown},
		{"/v2/app/nothing", route{}, errNotFound},
		{"/v3/", route{}, errNotFound},
		{"/", route{}, errNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := parseRoute(tt.path)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// FuzzParseRoute: whatever the path, a parsed route carries only valid
// names (no empty, "." or ".." component, nothing outside the grammar),
// and it prints back to a path that parses to the same route.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/v2/", "/v2/a/b/tags/list", "/v2/a/manifests/latest", "/v2/a/blobs/" + testDigest,
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/0123456789abcdef0123456789abcdef", "/v2/a/referrers/" + testDigest,
		"/v2/../x/manifests/y", "/v2/a/manifests/sha512:abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if err != nil {
			return
		}
		if rt.Name != "" {
			if !validName(rt.Name) {
				t.Fatalf("invalid name %q accepted", rt.Name)
			}
			for _, c := range strings.Split(rt.Name, "/") {
				if c == "" || c == "." || c == ".." {
					t.Fatalf("name %q has component %q", rt.Name, c)
				}
			}
		}
		if rt.Digest != "" && rt.Digest.Validate() != nil {
			t.Fatalf("invalid digest %q accepted", rt.Digest)
		}
		again, err := parseRoute(rt.Path())
		if err != nil {
			t.Fatalf("Path() %q of %q does not parse: %v", rt.Path(), path, err)
		}
		if diff := cmp.Diff(rt, again); diff != "" {
			t.Fatalf("round trip of %q (-first +second)\n%s", path, diff)
		}
	})
}
