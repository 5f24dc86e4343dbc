package transfer

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/manifest"
)

// withLayers swaps the layers of a manifest (a push or save whose blob
// was rebuilt with new bytes) and keeps every other field as it was.
func TestWithLayers(t *testing.T) {
	ctx := context.Background()
	cs, err := content.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{Content: cs}
	rebuilt := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("new"), Size: 3,
		Annotations: map[string]string{"dropped": "yes"}}
	for _, tc := range []struct {
		name, mediaType, wantLayerType string
	}{
		{"oci", ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageLayerGzip},
		{"docker", manifest.DockerManifest, manifest.DockerLayerType(ocispec.MediaTypeImageLayerGzip)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(`{"schemaVersion":2,"mediaType":"` + tc.mediaType + `","config":{"mediaType":"c","digest":"` +
				digest.FromString("cfg").String() + `","size":3},"layers":[],"annotations":{"keep":"me"}}`)
			desc := ocispec.Descriptor{MediaType: tc.mediaType, Digest: digest.FromBytes(in), Size: int64(len(in))}
			out, err := s.withLayers(ctx, desc, in, []ocispec.Descriptor{rebuilt})
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(in, &want); err != nil {
				t.Fatal(err)
			}
			want["layers"] = []any{map[string]any{"mediaType": tc.wantLayerType, "digest": rebuilt.Digest.String(), "size": float64(3)}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
			stored, err := cs.ReadAll(ctx, ocispec.Descriptor{Digest: digest.FromBytes(out), Size: int64(len(out))}, manifest.MaxSize)
			if err != nil || string(stored) != string(out) {
				t.Errorf("stored manifest: %q, %v; want %q", stored, err, out)
			}
		})
	}
}
