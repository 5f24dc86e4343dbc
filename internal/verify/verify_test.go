package verify

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestReader(t *testing.T) {
	body := "hello, layer"
	good := ocispec.Descriptor{Digest: digest.FromString(body), Size: int64(len(body))}
	cases := []struct {
		name string
		desc ocispec.Descriptor
		ok   bool
	}{
		{"match", good, true},
		{"unknown size", ocispec.Descriptor{Digest: good.Digest, Size: -1}, true},
		{"wrong digest", ocispec.Descriptor{Digest: digest.FromString("x"), Size: good.Size}, false},
		{"too short", ocispec.Descriptor{Digest: good.Digest, Size: good.Size + 1}, false},
		{"too long", ocispec.Descriptor{Digest: good.Digest, Size: good.Size - 1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(io.NopCloser(strings.NewReader(body)), tc.desc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(r)
			if tc.ok != (err == nil) {
				t.Fatalf("ReadAll err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, errdefs.ErrDataCorrupt) {
				t.Errorf("err %v is not ErrDataCorrupt", err)
			}
			if cerr := r.Close(); tc.ok != (cerr == nil) {
				t.Errorf("Close = %v, want ok=%v", cerr, tc.ok)
			}
		})
	}
}

// Close verifies what a reader that stopped early did not read.
func TestCloseDrainsAndVerifies(t *testing.T) {
	r, _ := NewReader(io.NopCloser(strings.NewReader("abcdef")), ocispec.Descriptor{Digest: digest.FromString("abcdeX"), Size: 6})
	buf := make([]byte, 2)
	r.Read(buf)
	if err := r.Close(); !errors.Is(err, errdefs.ErrDataCorrupt) {
		t.Errorf("Close after a partial read: %v", err)
	}
}

func TestBadDigest(t *testing.T) {
	if _, err := NewReader(io.NopCloser(strings.NewReader("")), ocispec.Descriptor{Digest: "sha256:nothex"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("NewReader with a bad digest: %v", err)
	}
}
