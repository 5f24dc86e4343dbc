package layer

import (
	"context"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/metadata"
)

// AnnotationRepositories, on a blob descriptor of a layer record, lists
// (space-separated DOMAIN/PATH) the registry repositories known to hold
// that blob, so a push can skip it or mount it from there.
const AnnotationRepositories = "org.strata.remote.repositories"

// BlobRepos reads the repositories a blob descriptor is known in.
func BlobRepos(d ocispec.Descriptor) []string {
	return strings.Fields(d.Annotations[AnnotationRepositories])
}

// withRepo returns d (without its other annotations) noting repo.
func withRepo(d ocispec.Descriptor, repo string) ocispec.Descriptor {
	repos := BlobRepos(d)
	for _, r := range repos {
		if r == repo {
			return d
		}
	}
	out := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	out.Annotations = map[string]string{AnnotationRepositories: strings.TrimSpace(strings.Join(append(repos, repo), " "))}
	return out
}

// NoteBlob records layer rec with blob desc, which repo (if not "") holds.
// An existing record is merged: its blobs stay, the repositories known for
// desc are kept and added to, and an empty ChainID, Size or Index is taken
// from it.
func NoteBlob(tx *metadata.Tx, rec metadata.Layer, desc ocispec.Descriptor, repo string) error {
	old, err := tx.Layer(rec.DiffID)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err == nil {
		for _, b := range old.Blobs {
			if b.Digest == desc.Digest {
				for _, r := range BlobRepos(b) {
					desc = withRepo(desc, r)
				}
			}
		}
		if rec.ChainID == "" {
			rec.ChainID = old.ChainID
		}
	}
	if repo != "" {
		desc = withRepo(desc, repo)
	}
	rec.Blobs = []ocispec.Descriptor{desc}
	return tx.PutLayer(rec)
}

// Record reads what is known of layer diffID.
func Record(ctx context.Context, db *metadata.DB, diffID digest.Digest) (metadata.Layer, bool) {
	var l metadata.Layer
	err := db.View(ctx, func(tx *metadata.Tx) error {
		var err error
		l, err = tx.Layer(diffID)
		return err
	})
	return l, err == nil
}

// have says whether the layer of src is in the store as the snapshot of
// chainID, and which blob stands for it: src's own descriptor, or with
// keepBlob one the store holds (for an OCI layout, the one src names).
func (p *Pipeline) have(ctx context.Context, chainID digest.Digest, src Source, keepBlob bool) (ocispec.Descriptor, bool) {
	if _, err := p.Snap.Stat(ctx, chainID.String()); err != nil {
		return ocispec.Descriptor{}, false
	}
	if !keepBlob {
		return src.Desc, true
	}
	rec, ok := Record(ctx, p.DB, src.DiffID)
	if !ok {
		return ocispec.Descriptor{}, false
	}
	named := src.Desc.MediaType != ""
	for _, b := range rec.Blobs {
		if named && b.Digest != src.Desc.Digest {
			continue
		}
		if info, err := p.Content.Info(ctx, b.Digest); err == nil && info.Size == b.Size {
			if named {
				return src.Desc, true
			}
			return b, true
		}
	}
	// A blob the blob cache evicted, named by its digest: it was read and
	// verified to be this layer, and a save rebuilds it from the snapshot
	// and index, so keeping it again would keep a second copy.
	if rec.Index != nil && src.Desc.Digest != "" {
		if _, err := p.Content.Info(ctx, rec.Index.Digest); err == nil {
			for _, b := range rec.Blobs {
				if b.Digest == src.Desc.Digest {
					if !named {
						return ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}, true
					}
					return src.Desc, true
				}
			}
		}
	}
	// A layer kept as its snapshot and tar-split index (a build's) has no
	// blob to find; the source's uncompressed tar of it is that layer, and
	// storing it would keep a second copy.
	if rec.Index != nil && src.Desc.Digest == src.DiffID && src.Desc.Size == rec.Size &&
		(!named || Unstored(src.Desc, src.DiffID)) {
		if _, err := p.Content.Info(ctx, rec.Index.Digest); err == nil {
			return ocispec.Descriptor{MediaType: manifest.LayerMediaType(""), Digest: src.DiffID, Size: rec.Size}, true
		}
	}
	return ocispec.Descriptor{}, false
}
