package engine

import (
	"context"
	"encoding/json"
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
	// Client talks to the registry; nil makes one that reads docker's
	// credentials and insecure-registries and keeps upload sessions in
	// the store.
	Client *remote.Client
}

// pushConcurrency bounds the blobs uploaded at once.
const pushConcurrency = 4

// Push uploads a local image to the registry its name points at and
// returns the descriptor of the manifest pushed (of the last tag, with All).
func (e *Engine) Push(ctx context.Context, ref string, opts PushOptions) (ocispec.Descriptor, error) {
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
	client := e.remoteClient(opts.Client)
	names := []reference.Named{named}
	if opts.All {
		if raw, err := reference.ParseNormalizedNamed(ref); err == nil && !reference.IsNameOnly(raw) {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: a tag cannot be used with --all-tags: %w", ref, errdefs.ErrInvalidArgument)
		}
		names = nil
		var recs []metadata.Image
		if err := e.DB.View(ctx, func(tx *metadata.Tx) error {
			var err error
			recs, err = tx.Images()
			return err
		}); err != nil {
			return ocispec.Descriptor{}, err
		}
		for _, r := range recs {
			n, err := reference.ParseNormalizedNamed(r.Name)
			if err != nil || n.Name() != named.Name() {
				continue
			}
			if t, ok := n.(reference.NamedTagged); ok {
				names = append(names, t)
			}
		}
		if len(names) == 0 {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: no local tags of this repository: %w", reference.FamiliarName(named), errdefs.ErrNotFound)
		}
	}
	var last ocispec.Descriptor
	for i, n := range names {
		if last, err = e.pushOne(ctx, client, n, opts.Progress, i == 0); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("push %s: %w", reference.FamiliarString(n), err)
		}
	}
	return last, nil
}

func (e *Engine) pushOne(ctx context.Context, client *remote.Client, named reference.Named, rep progress.Reporter, first bool) (ocispec.Descriptor, error) {
	img, err := e.Images.Resolve(ctx, named.String())
	if err != nil {
		if errdefs.IsNotFound(err) {
			return ocispec.Descriptor{}, fmt.Errorf("an image does not exist locally with the tag: %s: %w", reference.FamiliarString(named), errdefs.ErrNotFound)
		}
		return ocispec.Descriptor{}, err
	}
	unlock, err := e.lock(ctx, false)
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
	// docker lists layers top first.
	for i := len(layers) - 1; i >= 0; i-- {
		rep.Report(progress.Event{ID: images.ShortID(layers[i].Digest), Action: "Preparing"})
	}
	pushed := make([]ocispec.Descriptor, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pushConcurrency)
	for i := range layers {
		g.Go(func() error {
			d, err := e.pushLayer(gctx, repo, layers[i], diffIDs[i], chains[i], rep)
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
	if err := e.pushStored(ctx, repo, img.ConfigDesc, nil, "", nil); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config %s: %w", img.ConfigDesc.Digest, err)
	}

	// The manifest goes as it is stored, unless a layer had to be rebuilt
	// with new bytes.
	mb, err := e.Content.ReadAll(ctx, img.ManifestDesc, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mt := img.ManifestDesc.MediaType
	if changed(layers, pushed) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(mb, &m); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("manifest %s: %w", img.ManifestDesc.Digest, err)
		}
		ls := make([]ocispec.Descriptor, len(pushed))
		for i, d := range pushed {
			ls[i] = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
			if mt == manifest.DockerManifest {
				ls[i].MediaType = manifest.DockerLayer
			}
		}
		m["layers"] = mustJSON(ls)
		mb = mustJSON(m)
		if _, _, err := e.Content.WriteBlob(ctx, strings.NewReader(string(mb)), int64(len(mb)), digest.FromBytes(mb)); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	desc, err := repo.PutManifest(ctx, tag, mt, mb)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// Every blob is in the repository now; drop upload sessions earlier
	// cut pushes left for them (whichever way each got there this time).
	repo.ForgetUploads(ctx, append(append(slices.Clone(layers), pushed...), img.ConfigDesc)...)
	if err := e.recordRepoDigest(ctx, named.String(), img.Target.Digest, desc.Digest); err != nil {
		return ocispec.Descriptor{}, err
	}
	rep.Message("%s: digest: %s size: %d", tag, desc.Digest, desc.Size)
	return desc, nil
}

func changed(a, b []ocispec.Descriptor) bool {
	for i := range a {
		if a[i].Digest != b[i].Digest {
			return true
		}
	}
	return false
}

// pushLayer makes the repository hold layer desc (or another compressed
// form of the same diffID) and returns the descriptor it holds. The
// layer's blob is used when it is in the store; else a form the registry
// is known to hold (HEAD) or mount; else the layer is rebuilt from its
// snapshot and tar-split index, compressed with pgzip into the store.
func (e *Engine) pushLayer(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, diffID, chainID digest.Digest, rep progress.Reporter) (ocispec.Descriptor, error) {
	rec, _ := layer.Record(ctx, e.DB, diffID)
	known := func(d ocispec.Descriptor) ocispec.Descriptor {
		for _, b := range rec.Blobs {
			if b.Digest == d.Digest {
				return b
			}
		}
		return d
	}
	if _, err := e.Content.Info(ctx, desc.Digest); err == nil {
		return desc, e.pushStored(ctx, repo, desc, layer.BlobRepos(known(desc)), diffID, rep)
	}
	// Another compressed form kept locally, or known to the registry.
	for _, b := range append([]ocispec.Descriptor{known(desc)}, rec.Blobs...) {
		if _, err := e.Content.Info(ctx, b.Digest); err == nil {
			return b, e.pushStored(ctx, repo, b, layer.BlobRepos(b), diffID, rep)
		}
	}
	for _, b := range append([]ocispec.Descriptor{known(desc)}, rec.Blobs...) {
		for _, r := range layer.BlobRepos(b) {
			if !sameRegistry(r, repo) {
				continue
			}
			id := images.ShortID(b.Digest)
			if r == repo.Name() {
				if ok, err := repo.BlobExists(ctx, b); err == nil && ok {
					rep.Report(progress.Event{ID: id, Action: "Layer already exists"})
					return b, nil
				}
				continue
			}
			res, err := repo.PushBlob(ctx, b, eofReader{}, remote.PushBlobOptions{MountFrom: []string{pathOf(r, repo)}, SkipCheck: true, MountOnly: true})
			if err == nil && res.Kind == remote.Mounted {
				rep.Report(progress.Event{ID: id, Action: "Mounted from " + res.From})
				_ = e.noteRemoteBlob(ctx, diffID, b, repo.Name())
				return b, nil
			}
		}
	}
	rec.DiffID, rec.ChainID = diffID, chainID
	rebuilt, err := e.layers().Rebuild(ctx, rec, archive.Gzip)
	if err != nil {
		return desc, err
	}
	return rebuilt, e.pushStored(ctx, repo, rebuilt, nil, diffID, rep)
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
func (e *Engine) pushStored(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, repos []string, diffID digest.Digest, rep progress.Reporter) error {
	ra, err := e.Content.ReaderAt(ctx, desc)
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
	id := images.ShortID(desc.Digest)
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
	return e.noteRemoteBlob(ctx, diffID, desc, repo.Name())
}

// noteRemoteBlob records that repo holds blob desc of layer diffID.
func (e *Engine) noteRemoteBlob(ctx context.Context, diffID digest.Digest, desc ocispec.Descriptor, repo string) error {
	return e.DB.Update(ctx, func(tx *metadata.Tx) error {
		return layer.NoteBlob(tx, metadata.Layer{DiffID: diffID}, desc, repo)
	})
}
