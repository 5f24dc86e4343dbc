package build

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/runtime"
)

// Config is the OCI image config plus the fields docker keeps beside it
// (Healthcheck, OnBuild, Shell), so `docker inspect` of a pushed image
// shows what the Dockerfile said.
type Config struct {
	ocispec.ImageConfig
	Healthcheck *Healthcheck `json:"Healthcheck,omitempty"`
	OnBuild     []string     `json:"OnBuild,omitempty"`
	Shell       []string     `json:"Shell,omitempty"`
}

// Healthcheck is docker's HEALTHCHECK config, the one the container
// monitor probes (runtime.Healthcheck).
type Healthcheck = runtime.Healthcheck

// Image is an image config as the builder writes it. Its Config field
// replaces the embedded ocispec.Image's in JSON (the shallower field wins).
type Image struct {
	ocispec.Image
	Config Config `json:"config,omitempty"`
}

// DecodeImage reads a config blob keeping docker's extra fields.
func DecodeImage(b []byte) (Image, error) {
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return img, fmt.Errorf("decode image config: %w", err)
	}
	return img, nil
}

func (img Image) clone() Image {
	b, _ := json.Marshal(img)
	var out Image
	_ = json.Unmarshal(b, &out)
	return out
}

func sortedKV(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
