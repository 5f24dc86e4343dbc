package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/verify"
)

// PullOptions describe a `strata pull`.
type PullOptions struct {
	// Platform is os/arch[/variant] to pick from an index; "" is this
	// machine's.
	Platform string
	// All pulls every tag of the repository.
	All bool
	// Quiet sends no progress events.
	Quiet bool
	// Progress receives per-layer events and the Digest/Status lines.
	Progress progress.Reporter
	// Client talks to the registry; nil is remote.New(), which reads
	// docker's credentials and insecure-registries.
	Client *remote.Client
}

// pullConcurrency bounds the layers fetched at once.
const pullConcurrency = 3

// Pull fetches an image from its registry into the store, unpacks its
// layers and names it. It returns the digest the reference resolved to (an
// index's when the registry has one).
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (digest.Digest, error) {
	named, err := images.ParseName(ref)
	if err != nil {
		return "", err
	}
	if opts.Quiet {
		opts.Progress = nil
	}
	client := clientOr(opts.Client)
	if !opts.All {
		d, err := s.pullOne(ctx, client, named, opts)
		if err != nil {
			return "", fmt.Errorf("pull %s: %w", reference.FamiliarString(named), err)
		}
		return d, nil
	}
	if raw, err := reference.ParseNormalizedNamed(ref); err == nil && !reference.IsNameOnly(raw) {
		return "", fmt.Errorf("pull %s: a tag or digest cannot be used with --all-tags: %w", ref, errdefs.ErrInvalidArgument)
	}
	repoName := reference.TrimNamed(named)
	repo, err := client.Repository(ctx, repoName, false)
	if err != nil {
		return "", err
	}
	tags, err := repo.Tags(ctx)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", reference.FamiliarName(repoName), err)
	}
	var last digest.Digest
	for _, tag := range tags {
		t, err := reference.WithTag(repoName, tag)
		if err != nil {
			continue
		}
		if last, err = s.pullOne(ctx, client, t, opts); err != nil {
			return "", fmt.Errorf("pull %s: %w", reference.FamiliarString(t), err)
		}
	}
	return last, nil
}

// pullOne pulls one tag or digest.
func (s *Store) pullOne(ctx context.Context, client *remote.Client, named reference.Named, opts PullOptions) (digest.Digest, error) {
	d, err := s.pullImage(ctx, client, named, opts)
	if err == nil {
		ref := reference.FamiliarString(named)
		s.event("pull", ref, reference.FamiliarName(named))
	}
	return d, err
}

// pullImage is pullOne before its event.
func (s *Store) pullImage(ctx context.Context, client *remote.Client, named reference.Named, opts PullOptions) (digest.Digest, error) {
	platform := manifest.Platform()
	if opts.Platform != "" {
		p, err := manifest.ParsePlatform(opts.Platform)
		if err != nil {
			return "", err
		}
		platform = p
	}
	rep := opts.Progress
	refStr := "latest"
	if t, ok := named.(reference.Tagged); ok {
		refStr = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		refStr = d.Digest().String()
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()

	repo, err := client.Repository(ctx, named, false)
	if err != nil {
		return "", err
	}
	rep.Message("%s: Pulling from %s", refStr, reference.Path(named))
	top, body, err := repo.FetchManifest(ctx, refStr)
	if err != nil {
		return "", err
	}
	if err := s.putSmall(ctx, top, body, nil); err != nil {
		return "", err
	}
	target, mdesc, mbody := top, top, body
	if manifest.IsIndex(top.MediaType) {
		idx, err := manifest.DecodeIndex(body)
		if err != nil {
			return "", fmt.Errorf("index %s: %w", top.Digest, err)
		}
		mdesc, err = manifest.SelectPlatform(idx, platform)
		if err != nil {
			return "", err
		}
		var got ocispec.Descriptor
		got, mbody, err = repo.FetchManifest(ctx, mdesc.Digest.String())
		if err != nil {
			return "", err
		}
		if got.Size != mdesc.Size {
			return "", fmt.Errorf("manifest %s: %d bytes, the index says %d: %w", mdesc.Digest, got.Size, mdesc.Size, errdefs.ErrDataCorrupt)
		}
		if err := s.putSmall(ctx, mdesc, mbody, nil); err != nil {
			return "", err
		}
		// An image names its index only when Load would pick the same
		// manifest from it (this machine's platform); else the manifest.
		if host := manifest.Platform(); platform.OS != host.OS || platform.Architecture != host.Architecture {
			target = mdesc
		}
	}
	m, err := manifest.DecodeManifest(mbody)
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", mdesc.Digest, err)
	}
	cfgBytes, err := s.fetchSmallBlob(ctx, repo, m.Config)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	cfg, err := manifest.DecodeConfig(cfgBytes)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return "", fmt.Errorf("manifest %s has %d layers but its config lists %d diff_ids: %w", mdesc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	if err := s.pullLayers(ctx, repo, m.Layers, cfg.RootFS.DiffIDs, rep); err != nil {
		return "", err
	}

	name := named.String()
	upToDate := false
	_ = s.DB.View(ctx, func(tx *metadata.Tx) error {
		if old, err := tx.Image(name); err == nil && old.Target.Digest == target.Digest {
			upToDate = true
		}
		return nil
	})
	if err := s.Images.Name(ctx, name, target); err != nil {
		return "", err
	}
	if err := s.Images.RecordRepoDigest(ctx, name, target.Digest, top.Digest); err != nil {
		return "", err
	}
	rep.Message("Digest: %s", top.Digest)
	if upToDate {
		rep.Message("Status: Image is up to date for %s", reference.FamiliarString(named))
	} else {
		rep.Message("Status: Downloaded newer image for %s", reference.FamiliarString(named))
	}
	return top.Digest, nil
}

// fetchSmallBlob reads a config through the manifest cap, verified, and
// stores it.
func (s *Store) fetchSmallBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > manifest.MaxSize {
		return nil, fmt.Errorf("%d bytes is over the %d byte limit: %w", desc.Size, manifest.MaxSize, errdefs.ErrInvalidArgument)
	}
	if b, err := s.Content.ReadAll(ctx, desc, manifest.MaxSize); err == nil {
		return b, nil
	}
	rc, _, err := repo.FetchBlob(ctx, desc, 0)
	if err != nil {
		return nil, err
	}
	v, err := verify.NewReader(rc, desc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	b, err := io.ReadAll(v)
	if cerr := v.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the registry sent corrupt data; nothing was kept", err)
	}
	if err := s.putSmall(ctx, desc, b, nil); err != nil {
		return nil, err
	}
	return b, nil
}

// pullLayers makes every layer's snapshot exist through the layer
// pipeline: layers whose snapshot is there are skipped ("Already exists"),
// the rest fetched pullConcurrency at once into resumable ingests, each
// unpacked as it downloads where it can be (layer.Pipeline).
func (s *Store) pullLayers(ctx context.Context, repo *remote.Repository, descs []ocispec.Descriptor, diffIDs []digest.Digest, rep progress.Reporter) error {
	srcs := make([]layer.Source, len(descs))
	for i, d := range descs {
		srcs[i] = layer.Source{
			Desc:   d,
			DiffID: diffIDs[i],
			Open: func(ctx context.Context, offset int64) (io.ReadCloser, int64, int64, error) {
				rc, start, err := repo.OpenBlob(ctx, d, offset)
				return rc, start, 0, err
			},
			Name: d.Digest.String(),
			ID:   images.ShortID(d.Digest),
		}
	}
	_, err := s.Layers.Apply(ctx, srcs, layer.Options{
		Concurrency: pullConcurrency,
		Resumable:   true,
		Repository:  repo.Name(),
		Origin:      "the registry",
		Progress:    rep,
		PullEvents:  true,
	})
	var mm *verify.MismatchError
	if errors.As(err, &mm) {
		return fmt.Errorf("%w; nothing was kept", err)
	}
	return err
}
