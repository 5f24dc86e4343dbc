package build

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// Healthcheck is docker's HEALTHCHECK config; durations in nanoseconds.
type Healthcheck struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

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
