package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

const goodManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`

func TestDecodeManifest(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"good", goodManifest, ""},
		{"not json", `{"schemaVersion":`, "not valid JSON"},
		{"schema 1", `{"schemaVersion":1}`, "schemaVersion 1"},
		{"no config media type", `{"schemaVersion":2,"config":{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}`, "config: no mediaType"},
		{"bad layer digest", strings.Replace(goodManifest, `"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]`, `"digest":"sha256:zz","size":2}]`, 1), "layer 0: digest"},
		{"index media type", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`, "not an image manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest([]byte(tc.body))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want invalid argument mentioning %q", err, tc.want)
			}
		})
	}
}

func TestChainIDs(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	got := ChainIDs([]digest.Digest{a, b})
	want := digest.FromString(a.String() + " " + b.String())
	if got[0] != a || got[1] != want {
		t.Errorf("ChainIDs = %v", got)
	}
}

func TestSelectPlatformListsWhatExists(t *testing.T) {
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: digest.FromString("1"), Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}},
		{Digest: digest.FromString("2"), Platform: &ocispec.Platform{OS: "windows", Architecture: "amd64"}},
	}}
	_, err := SelectPlatform(idx, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "linux/s390x, windows/amd64") {
		t.Errorf("err = %v", err)
	}
}

// FuzzDecodeManifest: whatever the bytes, a manifest that decodes is one
// whose every descriptor is valid, and it survives a JSON round trip.
func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(goodManifest))
	f.Add([]byte(`{"schemaVersion":2,"config":{}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if d.Digest.Validate() != nil || d.MediaType == "" || d.Size < 0 {
				t.Fatalf("accepted a bad descriptor %+v", d)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest(again); err != nil {
			t.Fatalf("re-encoded manifest no longer decodes: %v", err)
		}
	})
}

// TestParsePlatform: the forms docker and BuildKit accept (issue 19,
// item 1): an architecture alone is this OS's, aliases are normalised.
func TestParsePlatform(t *testing.T) {
	host := Platform()
	for _, tc := range []struct{ in, want string }{
		{"linux/amd64", "linux/amd64"},
		{"amd64", "linux/amd64"},
		{"linux/x86_64", "linux/amd64"},
		{"linux/arm/v7", "linux/arm/v7"},
		{"aarch64", "linux/arm64"},
		{"linux", "linux/" + host.Architecture},
	} {
		p, err := ParsePlatform(tc.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tc.in, err)
			continue
		}
		if got := FormatPlatform(p); got != tc.want {
			t.Errorf("ParsePlatform(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "linux/amd64/v1/x", "lin ux/amd64"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
}

// FuzzParsePlatform: a platform that parses prints as os/arch[/variant]
// and parses back to itself (what FROM --platform and pull --platform
// then compare with the machine's).
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "amd64", "linux/arm/v7", "aarch64", "linux", "windows/amd64", "linux/x86_64", "a/b/c/d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			return
		}
		if p.OS == "" || p.Architecture == "" {
			t.Fatalf("ParsePlatform(%q) = %+v: no OS or architecture", s, p)
		}
		text := FormatPlatform(p)
		q, err := ParsePlatform(text)
		if err != nil {
			t.Fatalf("ParsePlatform(%q) = %s, which does not parse: %v", s, text, err)
		}
		if FormatPlatform(q) != text {
			t.Fatalf("ParsePlatform(%q) = %s, parsed again %s", s, text, FormatPlatform(q))
		}
	})
}
