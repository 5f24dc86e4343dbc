package manifest

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

// MaxSize caps manifests, indexes and configs, as registries do.
const MaxSize = 4 << 20

// Docker schema2 media types.
const (
	DockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerConfig       = "application/vnd.docker.container.image.v1+json"
	DockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	DockerLayerZstd    = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	// DockerLayerTar is an uncompressed Docker layer (what save writes
	// for a layer rebuilt from its snapshot).
	DockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"
)

// IsIndex reports whether mt is an OCI index or a Docker manifest list.
func IsIndex(mt string) bool { return mt == ocispec.MediaTypeImageIndex || mt == DockerManifestList }

// IsManifest reports whether mt is an OCI or Docker schema2 image manifest.
func IsManifest(mt string) bool { return mt == ocispec.MediaTypeImageManifest || mt == DockerManifest }

// IsConfig reports whether mt is an image config.
func IsConfig(mt string) bool { return mt == ocispec.MediaTypeImageConfig || mt == DockerConfig }

// Compression names the compression of a layer media type: "gzip", "zstd"
// or "" (uncompressed). ok is false for media types that are not layers.
func Compression(mt string) (string, bool) {
	switch mt {
	case ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerNonDistributableGzip, DockerLayer, DockerForeignLayer: //nolint:staticcheck
		return "gzip", true
	case ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerNonDistributableZstd, DockerLayerZstd: //nolint:staticcheck
		return "zstd", true
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerNonDistributable, DockerLayerTar: //nolint:staticcheck
		return "", true
	}
	return "", false
}

// DockerLayerType is the Docker schema2 media type of a layer of media
// type mt (OCI or Docker), by its compression.
func DockerLayerType(mt string) string {
	switch c, _ := Compression(mt); c {
	case "zstd":
		return DockerLayerZstd
	case "":
		return DockerLayerTar
	}
	return DockerLayer
}

// LayerMediaType is the OCI media type of a layer compressed with comp.
func LayerMediaType(comp string) string {
	switch comp {
	case "gzip":
		return ocispec.MediaTypeImageLayerGzip
	case "zstd":
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}

func invalid(what string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(what, args...), errdefs.ErrInvalidArgument)
}

// DetectMediaType guesses a manifest's media type when neither the
// descriptor nor the body names it (old OCI manifests may omit it).
func DetectMediaType(b []byte) string {
	var probe struct {
		MediaType string            `json:"mediaType"`
		Config    json.RawMessage   `json:"config"`
		Manifests []json.RawMessage `json:"manifests"`
		Layers    []json.RawMessage `json:"layers"`
	}
	if json.Unmarshal(b, &probe) != nil {
		return ""
	}
	if probe.MediaType != "" {
		return probe.MediaType
	}
	if probe.Manifests != nil {
		return ocispec.MediaTypeImageIndex
	}
	if probe.Config != nil {
		return ocispec.MediaTypeImageManifest
	}
	return ""
}

func checkDescriptor(where string, d ocispec.Descriptor) error {
	if d.MediaType == "" {
		return invalid("%s: no mediaType", where)
	}
	if err := d.Digest.Validate(); err != nil {
		return invalid("%s: digest %q: %v", where, d.Digest, err)
	}
	if d.Size < 0 {
		return invalid("%s: negative size %d", where, d.Size)
	}
	return nil
}

// DecodeManifest parses and validates an image manifest.
func DecodeManifest(b []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if len(b) > MaxSize {
		return m, invalid("manifest of %d bytes is over the %d byte limit", len(b), MaxSize)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, invalid("manifest is not valid JSON: %v", err)
	}
	if m.SchemaVersion != 2 {
		return m, invalid("manifest schemaVersion %d, want 2", m.SchemaVersion)
	}
	if m.MediaType != "" && !IsManifest(m.MediaType) {
		return m, invalid("manifest mediaType %q is not an image manifest", m.MediaType)
	}
	if err := checkDescriptor("manifest config", m.Config); err != nil {
		return m, err
	}
	for i, l := range m.Layers {
		if err := checkDescriptor(fmt.Sprintf("manifest layer %d", i), l); err != nil {
			return m, err
		}
	}
	return m, nil
}

// DecodeIndex parses and validates an OCI index or Docker manifest list.
func DecodeIndex(b []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if len(b) > MaxSize {
		return idx, invalid("index of %d bytes is over the %d byte limit", len(b), MaxSize)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, invalid("index is not valid JSON: %v", err)
	}
	if idx.SchemaVersion != 2 {
		return idx, invalid("index schemaVersion %d, want 2", idx.SchemaVersion)
	}
	for i, d := range idx.Manifests {
		if err := checkDescriptor(fmt.Sprintf("index manifest %d", i), d); err != nil {
			return idx, err
		}
	}
	return idx, nil
}

// DecodeConfig parses and validates an image config.
func DecodeConfig(b []byte) (ocispec.Image, error) {
	var img ocispec.Image
	if len(b) > MaxSize {
		return img, invalid("config of %d bytes is over the %d byte limit", len(b), MaxSize)
	}
	if err := json.Unmarshal(b, &img); err != nil {
		return img, invalid("config is not valid JSON: %v", err)
	}
	if img.RootFS.Type != "layers" {
		return img, invalid("config rootfs.type %q, want \"layers\"", img.RootFS.Type)
	}
	for i, d := range img.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return img, invalid("config rootfs.diff_ids[%d] %q: %v", i, d, err)
		}
	}
	return img, nil
}

// Children lists the descriptors a manifest or index points at.
func Children(mediaType string, b []byte) ([]ocispec.Descriptor, error) {
	switch {
	case IsIndex(mediaType):
		idx, err := DecodeIndex(b)
		if err != nil {
			return nil, err
		}
		return idx.Manifests, nil
	case IsManifest(mediaType):
		m, err := DecodeManifest(b)
		if err != nil {
			return nil, err
		}
		return append([]ocispec.Descriptor{m.Config}, m.Layers...), nil
	}
	return nil, nil
}

// ChainIDs returns the chain ID of every prefix of diffIDs, per image-spec
// config.md: ChainID(L0) = DiffID(L0), ChainID(L0..n) =
// sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// Platform is the platform this machine runs.
func Platform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// FormatPlatform writes os/arch[/variant].
func FormatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads a platform as docker and BuildKit do (containerd's
// platforms.Parse): os/arch[/variant], or an architecture or an OS alone
// for this machine's other half ("amd64" is linux/amd64 here), with
// aliases normalised ("x86_64" is amd64, "aarch64" arm64).
func ParsePlatform(s string) (ocispec.Platform, error) {
	if s == "" || strings.Count(s, "/") > 2 {
		return ocispec.Platform{}, invalid("platform %q: want os/arch[/variant] or an architecture", s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, invalid("platform %q: want os/arch[/variant] or an architecture (%v)", s, err)
	}
	return platforms.Normalize(p), nil
}

// SelectPlatform picks the manifest of an index for platform p. When none
// matches, the error lists the platforms the index has.
func SelectPlatform(idx ocispec.Index, p ocispec.Platform) (ocispec.Descriptor, error) {
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		have = append(have, FormatPlatform(*d.Platform))
		if d.Platform.OS == p.OS && d.Platform.Architecture == p.Architecture &&
			(p.Variant == "" || d.Platform.Variant == "" || d.Platform.Variant == p.Variant) {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for platform %s (the index has: %s): %w",
		FormatPlatform(p), strings.Join(have, ", "), errdefs.ErrNotFound)
}
