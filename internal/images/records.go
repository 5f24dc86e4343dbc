package images

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/metadata"
)

// UntaggedPrefix names records of images that have no tag, the <none>
// images of docker.
const UntaggedPrefix = "untagged/"

// Untagged reports whether a stored name is an untagged image's record.
func Untagged(name string) bool { return strings.HasPrefix(name, UntaggedPrefix) }

// RepoTag is a stored name's repository and tag as tables show them:
// "<none>" and "<none>" for an untagged image.
func RepoTag(name string) (repo, tag string) {
	if Untagged(name) {
		return "<none>", "<none>"
	}
	return SplitRepoTag(name)
}

// Name points name at target, or an untagged record at it when name is
// "" (PutName).
func (s *Store) Name(ctx context.Context, name string, target ocispec.Descriptor) error {
	if name == "" {
		name = UntaggedPrefix + target.Digest.String()
	}
	return s.DB.Update(ctx, func(tx *metadata.Tx) error {
		return PutName(tx, name, target)
	})
}

// PutName points name at target. The untagged record of target goes; an
// image the name leaves with no other name becomes untagged (docker's
// dangling <none> image) until image prune.
func PutName(tx *metadata.Tx, name string, target ocispec.Descriptor) error {
	recs, err := tx.Images()
	if err != nil {
		return err
	}
	var old *metadata.Image
	others := 0
	for i, r := range recs {
		if r.Name == name {
			old = &recs[i]
		}
	}
	if old != nil && old.Target.Digest != target.Digest {
		for _, r := range recs {
			if r.Target.Digest == old.Target.Digest && r.Name != name {
				others++
			}
		}
		if others == 0 {
			if err := tx.PutImage(metadata.Image{Name: UntaggedPrefix + old.Target.Digest.String(), Target: old.Target}); err != nil {
				return err
			}
		}
	}
	if !Untagged(name) {
		_ = tx.DeleteImage(UntaggedPrefix + target.Digest.String())
	}
	rec := metadata.Image{Name: name, Target: target}
	if old != nil && old.Target.Digest == target.Digest {
		rec.RepoDigest = old.RepoDigest // tagged again where it was: still distributed
	}
	return tx.PutImage(rec)
}

// Tag gives the image src names another name (a normalized tag) and
// returns its ID.
func (s *Store) Tag(ctx context.Context, src, name string) (digest.Digest, error) {
	img, err := s.Resolve(ctx, src)
	if err != nil {
		return "", err
	}
	return img.ID(), s.DB.Update(ctx, func(tx *metadata.Tx) error {
		// The source may have been removed since we resolved it.
		if !TargetNamed(tx, img.Target.Digest) {
			return fmt.Errorf("no such image: %s (removed meanwhile): %w", src, errdefs.ErrNotFound)
		}
		return PutName(tx, name, img.Target)
	})
}

// TargetNamed reports whether a name record points at the manifest d.
func TargetNamed(tx *metadata.Tx, d digest.Digest) bool {
	recs, _ := tx.Images()
	for _, r := range recs {
		if r.Target.Digest == d {
			return true
		}
	}
	return false
}

// RecordRepoDigest notes that the registry repository of name holds the
// image name points at, target, under dgst (it was pulled from there or
// pushed there): docker's RepoDigests. A name moved meanwhile is left.
func (s *Store) RecordRepoDigest(ctx context.Context, name string, target, dgst digest.Digest) error {
	return s.DB.Update(ctx, func(tx *metadata.Tx) error {
		rec, err := tx.Image(name)
		if err != nil || rec.Target.Digest != target || rec.RepoDigest == dgst {
			return nil
		}
		rec.RepoDigest = dgst
		return tx.PutImage(rec)
	})
}

// RemovalNames are the names of img that removing it by ref takes away,
// as docker's rmi: ref itself if it is one of its names, else (an ID)
// every name, which needs force when there are several.
func (img Image) RemovalNames(ref string, force bool) ([]string, error) {
	if named, err := ParseName(ref); err == nil {
		for _, n := range img.Names {
			if n == named.String() {
				return []string{n}, nil
			}
		}
	}
	if len(img.Names) > 1 && !force {
		var fam []string
		for _, n := range img.Names {
			fam = append(fam, Familiar(n))
		}
		return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories (%s): %w",
			ShortID(img.ID()), strings.Join(fam, ", "), errdefs.ErrConflict)
	}
	return img.Names, nil
}

// Untag deletes the records of names and returns those that were tags,
// familiar, in order. A name already gone (another process removed it) is
// passed over.
func (s *Store) Untag(ctx context.Context, names []string) ([]string, error) {
	var untagged []string
	err := s.DB.Update(ctx, func(tx *metadata.Tx) error {
		for _, n := range names {
			if err := tx.DeleteImage(n); err != nil {
				if errors.Is(err, errdefs.ErrNotFound) {
					continue // another process removed it: nothing to do
				}
				return err
			}
			if !Untagged(n) {
				untagged = append(untagged, Familiar(n))
			}
		}
		return nil
	})
	return untagged, err
}

// Dangling reports whether img has no tag, only its untagged record
// (docker's dangling <none> image).
func (img Image) Dangling() bool {
	for _, n := range img.Names {
		if !Untagged(n) {
			return false
		}
	}
	return true
}
