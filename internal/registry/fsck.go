package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// Fsck re-hashes every stored blob (the local store; S3 blobs were verified
// before they became visible, and are listed) and checks every link of the
// index: each
// linked blob, manifest, tag target and each blob a manifest needs must be
// in the store (or, for tags and index children, in the repository). It
// writes one line per problem to out and returns an ErrDataCorrupt error
// counting them, or nil.
func (g *Registry) Fsck(ctx context.Context, out io.Writer) error {
	if out == nil {
		out = io.Discard
	}
	problems := 0
	report := func(format string, a ...any) {
		problems++
		fmt.Fprintf(out, format+"\n", a...)
	}
	present := map[digest.Digest]bool{}
	verifier, _ := g.blobs.(interface {
		Verify(context.Context, digest.Digest) error
	})
	err := g.blobs.Walk(ctx, func(info backend.BlobInfo) error {
		if verifier == nil {
			present[info.Digest] = true
			return nil
		}
		if err := verifier.Verify(ctx, info.Digest); err != nil {
			if errors.Is(err, errdefs.ErrDataCorrupt) {
				report("corrupt blob %s: %v", info.Digest, err)
				return nil
			}
			if errors.Is(err, errdefs.ErrNotFound) {
				return nil // deleted meanwhile
			}
			return err
		}
		present[info.Digest] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("fsck blobs: %w", err)
	}
	err = g.meta.Repos(ctx, func(rs backend.RepoState) error {
		name := rs.Name
		for d := range rs.Links {
			if !present[d] {
				report("%s: linked blob %s missing", name, d)
			}
		}
		for d, rec := range rs.Manifests {
			if !present[d] {
				report("%s: manifest %s missing", name, d)
			}
			for _, b := range rec.Blobs {
				if !present[b] {
					report("%s: manifest %s needs missing blob %s", name, d, b)
				}
			}
			for _, c := range rec.Children {
				if rs.Manifests[c] == nil {
					report("%s: index %s lists missing manifest %s", name, d, c)
				}
			}
		}
		for t, d := range rs.Tags {
			if rs.Manifests[d] == nil {
				report("%s: tag %s points at missing manifest %s", name, t, d)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fsck index: %w", err)
	}
	if problems > 0 {
		return fmt.Errorf("fsck: %d problems: %w", problems, errdefs.ErrDataCorrupt)
	}
	return nil
}
