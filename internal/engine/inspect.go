package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/manifest"
)

// ImageInspect is shaped like `docker image inspect`.
type ImageInspect struct {
	ID            string             `json:"Id"`
	RepoTags      []string           `json:"RepoTags"`
	RepoDigests   []string           `json:"RepoDigests"`
	Parent        string             `json:"Parent"`
	Comment       string             `json:"Comment"`
	Created       string             `json:"Created"`
	DockerVersion string             `json:"DockerVersion"`
	Author        string             `json:"Author"`
	Config        build.Config       `json:"Config"`
	Architecture  string             `json:"Architecture"`
	Variant       string             `json:"Variant,omitempty"`
	Os            string             `json:"Os"`
	Size          int64              `json:"Size"`
	GraphDriver   GraphDriver        `json:"GraphDriver"`
	RootFS        InspectRootFS      `json:"RootFS"`
	Metadata      InspectMetadata    `json:"Metadata"`
	Descriptor    ocispec.Descriptor `json:"Descriptor"`
}

// GraphDriver names the snapshotter and the layer directories.
type GraphDriver = container.GraphDriver

// InspectRootFS lists the diffIDs.
type InspectRootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// InspectMetadata carries the last time a name moved.
type InspectMetadata struct {
	LastTagTime string `json:"LastTagTime"`
}

// InspectImage reads an image as docker image inspect shows it.
func (e *Engine) InspectImage(ctx context.Context, ref string) (ImageInspect, error) {
	img, err := e.Images.Resolve(ctx, ref)
	if err != nil {
		return ImageInspect{}, err
	}
	sizes, err := e.layerSizes(ctx, img)
	if err != nil {
		return ImageInspect{}, err
	}
	// The config blob read again with docker's fields beside the OCI
	// ones (Healthcheck, OnBuild, Shell), which ocispec.ImageConfig drops.
	raw, err := e.Content.ReadAll(ctx, img.ConfigDesc, manifest.MaxSize)
	if err != nil {
		return ImageInspect{}, fmt.Errorf("inspect %s: read config: %w", ref, err)
	}
	full, err := build.DecodeImage(raw)
	if err != nil {
		return ImageInspect{}, fmt.Errorf("inspect %s: %w", ref, err)
	}
	out := ImageInspect{
		ID:           img.ID().String(),
		RepoTags:     []string{},
		RepoDigests:  []string{},
		Config:       full.Config,
		Architecture: img.Config.Architecture,
		Variant:      img.Config.Variant,
		Os:           img.Config.OS,
		Author:       img.Config.Author,
		RootFS:       InspectRootFS{Type: img.Config.RootFS.Type, Layers: []string{}},
		Descriptor:   img.Target,
		GraphDriver:  GraphDriver{Name: e.driver, Data: map[string]string{}},
	}
	if img.Config.Created != nil {
		out.Created = img.Config.Created.Format(time.RFC3339Nano)
	}
	if h := img.Config.History; len(h) > 0 {
		out.Comment = h[len(h)-1].Comment
	}
	for _, n := range img.Names {
		if strings.HasPrefix(n, images.UntaggedPrefix) {
			continue
		}
		out.RepoTags = append(out.RepoTags, images.Familiar(n))
	}
	out.RepoDigests = append(out.RepoDigests, img.RepoDigests...)
	if !img.Updated.IsZero() {
		out.Metadata.LastTagTime = img.Updated.Format(time.RFC3339Nano)
	}
	for _, d := range img.DiffIDs() {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	out.Size = img.Size(sizes)
	if top := img.ChainID(); top != "" {
		if up, err := e.Snap.UpperDir(ctx, top.String()); err == nil {
			out.GraphDriver.Data["UpperDir"] = up
		}
		if lows, err := e.Snap.ParentDirs(ctx, top.String()); err == nil && len(lows) > 0 {
			out.GraphDriver.Data["LowerDir"] = strings.Join(lows, ":")
		}
	}
	return out, nil
}
