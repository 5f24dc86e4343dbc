package transfer

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/remote"
)

// PushOptions describe a `strata push`.
type PushOptions struct {
	// All pushes every local tag of the repository.
	All bool
	// Quiet sends no progress events.
	Quiet bool
	// Progress receives per-layer events and the final digest line.
	Progress progress.Reporter
	// Client talks to the registry; nil is remote.New(), which reads
	// docker's credentials and insecure-registries.
	Client *remote.Client
}

// pushConcurrency bounds the blobs uploaded at once.
const pushConcurrency = 4

// Push uploads a local image to the registry its name points at and
// returns the descriptor of the manifest pushed (of the last tag, with All).
func (s *Store) Push(ctx context.Context, ref string, opts PushOptions) (ocispec.Descriptor, error) {
	named, err := images.ParseName(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, ok := named.(reference.Digested); ok {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: push a tag, not a digest: %w", ref, errdefs.ErrInvalidArgument)
	}
	if opts.Quiet {
		opts.Progress = nil
	}
	client := clientOr(opts.Client)
	names := []reference.Named{named}
	if opts.All {
		if raw, err := reference.ParseNormalizedNamed(ref); err == nil && !reference.IsNameOnly(raw) {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: a tag cannot be used with --all-tags: %w", ref, errdefs.ErrInvalidArgument)
		}
		if names, err = s.Images.RepoTags(ctx, named); err != nil {
			return ocispec.Descriptor{}, err
		}
		if len(names) == 0 {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: no local tags of this repository: %w", reference.FamiliarName(named), errdefs.ErrNotFound)
		}
	}
	var last ocispec.Descriptor
	for i, n := range names {
		if last, err = s.pushOne(ctx, client, n, opts.Progress, i == 0); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: %w", reference.FamiliarString(n), err)
		}
	}
	return last, nil
}

func (s *Store) pushOne(ctx context.Context, client *remote.Client, named reference.Named, rep progress.Reporter, first bool) (ocispec.Descriptor, error) {
	d, err := s.pushImage(ctx, client, named, rep, first)
	if err == nil {
		s.event("push", reference.FamiliarString(named), reference.FamiliarName(named))
	}
	return d, err
}

// pushImage is pushOne before its event.
func (s *Store) pushImage(ctx context.Context, client *remote.Client, named reference.Named, rep progress.Reporter, first bool) (ocispec.Descriptor, error) {
	img, err := s.Images.Resolve(ctx, named.String())
	if err != nil {
		if errdefs.IsNotFound(err) {
			return ocispec.Descriptor{}, fmt.Errorf("an image does not exist locally with the tag: %s: %w", reference.FamiliarString(named), errdefs.ErrNotFound)
		}
		return ocispec.Descriptor{}, err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer unlock()
	repo, err := client.Repository(ctx, named, true)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if first {
		rep.Message("The push refers to repository [%s]", repo.Name())
	}
	layers := img.Manifest.Layers
	diffIDs := img.DiffIDs()
	chains := img.ChainIDs()
	// docker lists layers top first, each under its diffID: the blob
	// pushed may be another form of the layer (one rebuilt from its
	// snapshot, a build's layer compressed now).
	for i := len(layers) - 1; i >= 0; i-- {
		rep.Report(progress.Event{ID: pushID(layers[i], diffIDs[i]), Action: "Preparing"})
	}
	pushed := make([]ocispec.Descriptor, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pushConcurrency)
	for i := range layers {
		g.Go(func() error {
			d, err := s.pushLayer(gctx, repo, layers[i], diffIDs[i], chains[i], rep)
			if err != nil {
				return fmt.Errorf("layer %s: %w", layers[i].Digest, err)
			}
			pushed[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := s.pushStored(ctx, repo, img.ConfigDesc, s.layerRepos(ctx, diffIDs), "", nil); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config %s: %w", img.ConfigDesc.Digest, err)
	}

	// The manifest goes as it is stored, unless a layer had to be rebuilt
	// with new bytes.
	mb, err := s.Content.ReadAll(ctx, img.ManifestDesc, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mt := img.ManifestDesc.MediaType
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if built, rebuilt := changedLayers(layers, diffIDs, pushed); built+rebuilt > 0 {
		if mb, err = s.withLayers(ctx, img.ManifestDesc, mb, pushed); err != nil {
			return ocispec.Descriptor{}, err
		}
		var why []string
		if built > 0 {
			why = append(why, fmt.Sprintf("%d of %d layers compressed for the push (a build keeps them uncompressed)", built, len(layers)))
		}
		if rebuilt > 0 {
			why = append(why, fmt.Sprintf("%d of %d layer blobs rebuilt from their snapshots (evicted from the blob cache and not in the repository)", rebuilt, len(layers)))
		}
		rep.Message("%s: %s: the manifest pushed is new, not %s", tag, strings.Join(why, "; "), img.ManifestDesc.Digest)
	}
	desc, err := repo.PutManifest(ctx, tag, mt, mb)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// Rebuilt blobs are blob cache entries: trim it to its budget.
	if err := s.trimCache(ctx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("blob cache: %w", err)
	}
	// Every blob is in the repository now; drop upload sessions earlier
	// cut pushes left for them (whichever way each got there this time).
	repo.ForgetUploads(ctx, append(append(slices.Clone(layers), pushed...), img.ConfigDesc)...)
	if err := s.Images.RecordRepoDigest(ctx, named.String(), img.Target.Digest, desc.Digest); err != nil {
		return ocispec.Descriptor{}, err
	}
	rep.Message("%s: digest: %s size: %d", tag, desc.Digest, desc.Size)
	return desc, nil
}

// layerRepos lists the repositories known to hold a blob of one of the
// layers diffIDs: where the image came from or went, which hold its
// config too, so that a push to another repository of the same registry
// mounts the config as it mounts the layers.
func (s *Store) layerRepos(ctx context.Context, diffIDs []digest.Digest) []string {
	var out []string
	for _, d := range diffIDs {
		rec, _ := layer.Record(ctx, s.DB, d)
		for _, b := range rec.Blobs {
			for _, r := range layer.BlobRepos(b) {
				if !slices.Contains(out, r) {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// changedLayers counts the layers whose blob pushed differs from the
// manifest's: built, a build's uncompressed layer compressed now, and
// rebuilt, a blob evicted and rebuilt with other bytes.
func changedLayers(layers []ocispec.Descriptor, diffIDs []digest.Digest, pushed []ocispec.Descriptor) (built, rebuilt int) {
	for i := range layers {
		switch {
		case layers[i].Digest == pushed[i].Digest:
		case layer.Unstored(layers[i], diffIDs[i]):
			built++
		default:
			rebuilt++
		}
	}
	return built, rebuilt
}

// pushLayer makes the repository hold layer desc (or another compressed
// form of the same diffID) and returns the descriptor it holds. The forms
// are tried in order, the image's own first, so that the manifest keeps
// its digest whenever it can: a form in the store (the blob cache) is
// pushed (nothing is sent if the repository has it); one the blob cache
// evicted is looked for in the repository (HEAD) and mounted from the
// repositories of the same registry known to hold it. Failing all that,
// the layer is rebuilt from its snapshot and tar-split index, compressed
// with pgzip into the store (a new digest unless the rebuild is
// byte-identical).
func (s *Store) pushLayer(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, diffID, chainID digest.Digest, rep progress.Reporter) (ocispec.Descriptor, error) {
	rec, _ := layer.Record(ctx, s.DB, diffID)
	forms := []ocispec.Descriptor{desc}
	for i, b := range rec.Blobs {
		if b.Digest == desc.Digest {
			forms[0] = b // with the repositories known to hold it
			continue
		}
		if !layer.Unstored(b, diffID) {
			forms = append(forms, rec.Blobs[i])
		}
	}
	for _, b := range forms {
		if _, err := s.Content.Info(ctx, b.Digest); err == nil {
			_ = s.Layers.Touch(ctx, b.Digest)
			d := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
			if b.Digest == desc.Digest {
				d = desc
			}
			err := s.pushStored(ctx, repo, d, layer.BlobRepos(b), diffID, rep)
			if _, ierr := s.Content.Info(ctx, b.Digest); err == nil || !errdefs.IsNotFound(ierr) {
				return d, err
			}
			// Another process's blob cache evicted it meanwhile: go on
			// as for an evicted blob.
		}
		if ok := s.pushAbsent(ctx, repo, b, diffID, rep); ok {
			if b.Digest == desc.Digest {
				return desc, nil
			}
			return ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}, nil
		}
	}
	rec.DiffID, rec.ChainID = diffID, chainID
	rebuilt, err := s.Layers.Rebuild(ctx, rec, archive.Gzip)
	if err != nil {
		return desc, err
	}
	return rebuilt, s.pushStored(ctx, repo, rebuilt, nil, diffID, rep)
}

// pushAbsent makes the repository hold blob b, which is not in the store,
// without sending it: it is there already (HEAD), or it is mounted from a
// repository of the same registry known to hold it.
func (s *Store) pushAbsent(ctx context.Context, repo *remote.Repository, b ocispec.Descriptor, diffID digest.Digest, rep progress.Reporter) bool {
	id := pushID(b, diffID)
	if ok, err := repo.BlobExists(ctx, b); err == nil && ok {
		rep.Report(progress.Event{ID: id, Action: "Layer already exists"})
		if !slices.Contains(layer.BlobRepos(b), repo.Name()) {
			_ = s.noteRemoteBlob(ctx, diffID, b, repo.Name())
		}
		return true
	}
	for _, r := range layer.BlobRepos(b) {
		if !sameRegistry(r, repo) || r == repo.Name() {
			continue
		}
		res, err := repo.PushBlob(ctx, b, eofReader{}, remote.PushBlobOptions{MountFrom: []string{pathOf(r, repo)}, SkipCheck: true, MountOnly: true})
		if err == nil && res.Kind == remote.Mounted {
			rep.Report(progress.Event{ID: id, Action: "Mounted from " + res.From})
			_ = s.noteRemoteBlob(ctx, diffID, b, repo.Name())
			return true
		}
	}
	return false
}

// pushID is the progress ID of a blob pushed: as docker's, the short
// diffID of the layer it is a form of, else (the config) its digest's.
func pushID(desc ocispec.Descriptor, diffID digest.Digest) string {
	if diffID != "" {
		return images.ShortID(diffID)
	}
	return images.ShortID(desc.Digest)
}

// eofReader stands in for a blob that is only mounted, never read.
type eofReader struct{}

func (eofReader) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }

func sameRegistry(repoName string, repo *remote.Repository) bool {
	return strings.HasPrefix(repoName, repo.Domain+"/")
}

func pathOf(repoName string, repo *remote.Repository) string {
	return strings.TrimPrefix(repoName, repo.Domain+"/")
}

// pushStored pushes a blob that is in the content store. repos are where
// it is known to be; those on the same registry are mount sources. With a
// diffID the result is remembered in the layer's record.
func (s *Store) pushStored(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, repos []string, diffID digest.Digest, rep progress.Reporter) error {
	ra, err := s.Content.ReaderAt(ctx, desc)
	if err != nil {
		return err
	}
	defer ra.Close()
	if ra.Size() != desc.Size {
		return fmt.Errorf("blob %s: %d bytes in the store, %d in the manifest: %w", desc.Digest, ra.Size(), desc.Size, errdefs.ErrDataCorrupt)
	}
	var from []string
	for _, r := range repos {
		if sameRegistry(r, repo) && r != repo.Name() {
			from = append(from, pathOf(r, repo))
		}
	}
	sort.Strings(from)
	id := pushID(desc, diffID)
	c := progress.NewCounter(rep, id, "Pushing", 0, desc.Size)
	var mu sync.Mutex // the body of a chunk is read on the transport's goroutine
	res, err := repo.PushBlob(ctx, desc, ra, remote.PushBlobOptions{
		MountFrom: from,
		Progress: func(n int64) {
			mu.Lock()
			c.Add(n - c.Current())
			mu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	switch res.Kind {
	case remote.Existed:
		rep.Report(progress.Event{ID: id, Action: "Layer already exists"})
	case remote.Mounted:
		rep.Report(progress.Event{ID: id, Action: "Mounted from " + res.From})
	default:
		rep.Report(progress.Event{ID: id, Action: "Pushed"})
	}
	if diffID == "" || (res.Kind == remote.Existed && slices.Contains(repos, repo.Name())) {
		return nil // nothing new to remember
	}
	return s.noteRemoteBlob(ctx, diffID, desc, repo.Name())
}

// noteRemoteBlob records that repo holds blob desc of layer diffID.
func (s *Store) noteRemoteBlob(ctx context.Context, diffID digest.Digest, desc ocispec.Descriptor, repo string) error {
	return s.DB.Update(ctx, func(tx *metadata.Tx) error {
		return layer.NoteBlob(tx, metadata.Layer{DiffID: diffID}, desc, repo)
	})
}
