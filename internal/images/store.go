package images

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// Store reads image records and what they point at.
type Store struct {
	DB      *metadata.DB
	Content *content.Store
}

// Image is an image record with its manifest and config read and checked.
type Image struct {
	// Names are every name pointing at this manifest, sorted.
	Names        []string
	Target       ocispec.Descriptor // what the names point at (manifest or index)
	Manifest     ocispec.Manifest   // this platform's manifest
	ManifestDesc ocispec.Descriptor
	Config       ocispec.Image
	ConfigDesc   ocispec.Descriptor
	Updated      time.Time
	// RepoDigests are the names' repositories in registries that hold
	// this image (pulled from or pushed to), as repo@digest, sorted:
	// docker's RepoDigests, empty for an image never distributed.
	RepoDigests []string
}

// ID is the image ID: its config digest.
func (img Image) ID() digest.Digest { return img.ConfigDesc.Digest }

// DiffIDs are the image's layers, bottom first.
func (img Image) DiffIDs() []digest.Digest { return img.Config.RootFS.DiffIDs }

// ChainIDs are the snapshot names of the image's layers, bottom first.
func (img Image) ChainIDs() []digest.Digest { return manifest.ChainIDs(img.Config.RootFS.DiffIDs) }

// ChainID is the top layer's chain ID, "" for an image with no layers.
func (img Image) ChainID() digest.Digest {
	c := img.ChainIDs()
	if len(c) == 0 {
		return ""
	}
	return c[len(c)-1]
}

// Load reads the manifest (choosing this platform's from an index) and
// config that target points at, verifying their digests.
func (s *Store) Load(ctx context.Context, target ocispec.Descriptor) (Image, error) {
	img := Image{Target: target}
	desc := target
	b, err := s.Content.ReadAll(ctx, desc, manifest.MaxSize)
	if err != nil {
		return img, err
	}
	if manifest.IsIndex(desc.MediaType) {
		idx, err := manifest.DecodeIndex(b)
		if err != nil {
			return img, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		desc, err = manifest.SelectPlatform(idx, manifest.Platform())
		if err != nil {
			return img, fmt.Errorf("index %s: %w", target.Digest, err)
		}
		if b, err = s.Content.ReadAll(ctx, desc, manifest.MaxSize); err != nil {
			return img, err
		}
	}
	m, err := manifest.DecodeManifest(b)
	if err != nil {
		return img, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	cb, err := s.Content.ReadAll(ctx, m.Config, manifest.MaxSize)
	if err != nil {
		return img, fmt.Errorf("manifest %s: config: %w", desc.Digest, err)
	}
	cfg, err := manifest.DecodeConfig(cb)
	if err != nil {
		return img, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return img, fmt.Errorf("manifest %s has %d layers but its config lists %d diff_ids: %w",
			desc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	img.Manifest, img.ManifestDesc, img.Config, img.ConfigDesc = m, desc, cfg, m.Config
	return img, nil
}

// Records returns every name record (tags, digests and untagged ones).
func (s *Store) Records(ctx context.Context) ([]metadata.Image, error) {
	var recs []metadata.Image
	err := s.DB.View(ctx, func(tx *metadata.Tx) error {
		var err error
		recs, err = tx.Images()
		return err
	})
	return recs, err
}

// RepoTags returns the local tags of repository repo (a normalized name).
func (s *Store) RepoTags(ctx context.Context, repo reference.Named) ([]reference.Named, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	var tags []reference.Named
	for _, r := range recs {
		n, err := reference.ParseNormalizedNamed(r.Name)
		if err != nil || n.Name() != repo.Name() {
			continue
		}
		if t, ok := n.(reference.NamedTagged); ok {
			tags = append(tags, t)
		}
	}
	return tags, nil
}

// List returns every image, one entry per distinct target, with its names.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	byTarget := map[digest.Digest]*Image{}
	var order []digest.Digest
	for _, r := range recs {
		if img, ok := byTarget[r.Target.Digest]; ok {
			img.addName(r)
			continue
		}
		img, err := s.Load(ctx, r.Target)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", Familiar(r.Name), err)
		}
		img.addName(r)
		byTarget[r.Target.Digest] = &img
		order = append(order, r.Target.Digest)
	}
	out := make([]Image, 0, len(order))
	for _, d := range order {
		out = append(out, *byTarget[d])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created().After(out[j].Created()) })
	return out, nil
}

// Resolve finds the image a user means: a name (tag or digest), or an image
// ID or a unique prefix of one.
func (s *Store) Resolve(ctx context.Context, ref string) (Image, error) {
	if ref == "" {
		return Image{}, fmt.Errorf("empty image reference: %w", errdefs.ErrInvalidArgument)
	}
	recs, err := s.Records(ctx)
	if err != nil {
		return Image{}, err
	}
	// An exact name first, as docker does.
	if named, err := ParseName(ref); err == nil {
		name := named.String()
		var hits []metadata.Image
		for _, r := range recs {
			if r.Name == name {
				hits = append(hits, r)
			}
		}
		if dg, ok := named.(reference.Digested); ok && len(hits) == 0 {
			// name@digest: any record of that repository with that manifest.
			for _, r := range recs {
				if r.Target.Digest == dg.Digest() && sameRepo(r.Name, named) {
					hits = append(hits, r)
				}
			}
		}
		if len(hits) > 0 {
			return s.withNames(ctx, hits[0].Target, recs)
		}
	}
	if LooksLikeID(ref) {
		prefix := strings.TrimPrefix(ref, "sha256:")
		var found *Image
		seen := map[digest.Digest]bool{}
		for _, r := range recs {
			if seen[r.Target.Digest] {
				continue
			}
			seen[r.Target.Digest] = true
			img, err := s.Load(ctx, r.Target)
			if err != nil {
				continue
			}
			if strings.HasPrefix(img.ID().Encoded(), prefix) || r.Target.Digest.Encoded() == prefix {
				if found != nil && found.ID() != img.ID() {
					return Image{}, fmt.Errorf("image ID prefix %q is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
				}
				found = &img
			}
		}
		if found != nil {
			return s.withNames(ctx, found.Target, recs)
		}
	}
	if _, err := ParseName(ref); err != nil && !LooksLikeID(ref) {
		return Image{}, err
	}
	return Image{}, fmt.Errorf("no such image: %s: %w", ref, errdefs.ErrNotFound)
}

func sameRepo(name string, named reference.Named) bool {
	n, err := reference.ParseNormalizedNamed(name)
	return err == nil && n.Name() == named.Name()
}

func (s *Store) withNames(ctx context.Context, target ocispec.Descriptor, recs []metadata.Image) (Image, error) {
	img, err := s.Load(ctx, target)
	if err != nil {
		return img, err
	}
	for _, r := range recs {
		if r.Target.Digest == target.Digest {
			img.addName(r)
		}
	}
	sort.Strings(img.Names)
	return img, nil
}

// addName adds the name record r (which points at img) to img: its name,
// its time, and its repository digest if it was distributed.
func (img *Image) addName(r metadata.Image) {
	img.Names = append(img.Names, r.Name)
	if r.UpdatedAt.After(img.Updated) {
		img.Updated = r.UpdatedAt
	}
	if r.RepoDigest != "" {
		repo, _ := SplitRepoTag(r.Name)
		if rd := repo + "@" + r.RepoDigest.String(); !slices.Contains(img.RepoDigests, rd) {
			img.RepoDigests = append(img.RepoDigests, rd)
			sort.Strings(img.RepoDigests)
		}
	}
}

// IsNotFound is a convenience for callers choosing docker's exit codes.
func IsNotFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }
