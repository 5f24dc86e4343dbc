package registry

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize caps manifest bodies (distribution-spec: registries
// SHOULD accept at least 4 MiB; larger ones get 413).
const maxManifestSize = 4 << 20

// Media types of the manifests the registry knows.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// parsedManifest is what putManifest needs to know of a manifest body.
type parsedManifest struct {
	mediaType string
	index     bool
	record    manifestRecord
	// mustExist are the blobs (config, distributable layers) that must be
	// linked in the repository; children the manifests of an index.
	mustExist []digest.Digest
	children  []digest.Digest
}

// rawManifest decodes both image manifests and indexes, OCI and Docker.
type rawManifest struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// decodeManifest validates a manifest body sent with Content-Type ct. It
// accepts OCI image manifests and indexes (with artifactType, subject and
// custom fields), Docker schema2 manifests and lists; it refuses schema1
// and anything whose descriptors are malformed.
func decodeManifest(ct string, body []byte) (*parsedManifest, error) {
	invalid := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errManifestInvalid, fmt.Sprintf(format, a...))
	}
	var m rawManifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalid("decode: %v", err)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			ct = mt
		}
	}
	mt := m.MediaType
	switch {
	case mt != "" && ct != "" && mt != ct:
		return nil, invalid("mediaType %q does not match Content-Type %q", mt, ct)
	case mt == "":
		mt = ct
	}
	p := &parsedManifest{}
	switch mt {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		p.index = true
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
	case "":
		// Neither header nor body says: judge by the shape, as image-spec
		// allows mediaType to be omitted.
		if m.Manifests != nil && m.Config == nil {
			p.index, mt = true, ocispec.MediaTypeImageIndex
		} else {
			mt = ocispec.MediaTypeImageManifest
		}
	default:
		return nil, invalid("unsupported manifest media type %q", mt)
	}
	p.mediaType = mt
	if p.index {
		if m.Config != nil || m.Layers != nil {
			return nil, invalid("an index has no config or layers")
		}
		for i, d := range m.Manifests {
			if err := checkDescriptor(d); err != nil {
				return nil, invalid("manifests[%d]: %v", i, err)
			}
			p.children = append(p.children, d.Digest)
		}
	} else {
		if m.Config == nil {
			return nil, invalid("an image manifest needs a config")
		}
		if m.Manifests != nil {
			return nil, invalid("an image manifest has no manifests list")
		}
		if err := checkDescriptor(*m.Config); err != nil {
			return nil, invalid("config: %v", err)
		}
		p.mustExist = append(p.mustExist, m.Config.Digest)
		p.record.Blobs = append(p.record.Blobs, m.Config.Digest)
		for i, d := range m.Layers {
			if err := checkDescriptor(d); err != nil {
				return nil, invalid("layers[%d]: %v", i, err)
			}
			// Non-distributable ("foreign") layers live elsewhere
			// (image-spec layer.md#non-distributable-layers): they need
			// not, and usually cannot, be pushed.
			if nonDistributable(d) {
				continue
			}
			p.mustExist = append(p.mustExist, d.Digest)
			p.record.Blobs = append(p.record.Blobs, d.Digest)
		}
	}
	if m.Subject != nil {
		if err := checkDescriptor(*m.Subject); err != nil {
			return nil, invalid("subject: %v", err)
		}
		p.record.Subject = m.Subject.Digest
	}
	p.record.MediaType = mt
	p.record.Size = int64(len(body))
	p.record.ArtifactType = m.ArtifactType
	if p.record.ArtifactType == "" && !p.index && m.Config != nil {
		// image-spec manifest.md#guidelines-for-artifact-usage: the
		// referrers API reports config.mediaType when artifactType is
		// unset.
		p.record.ArtifactType = m.Config.MediaType
	}
	p.record.Annotations = m.Annotations
	p.record.Children = p.children
	return p, nil
}

func nonDistributable(d ocispec.Descriptor) bool {
	return strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, ".foreign.") || len(d.URLs) > 0
}

// checkDescriptor checks the fields a registry relies on, including that
// an embedded data field matches the digest and size.
func checkDescriptor(d ocispec.Descriptor) error {
	if d.MediaType == "" {
		return fmt.Errorf("no mediaType")
	}
	if _, err := parseDigest(d.Digest.String()); err != nil {
		return err
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size")
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("data does not match digest %s and size %d", d.Digest, d.Size)
		}
	}
	return nil
}
