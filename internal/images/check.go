package images

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Check reads every image record (system fsck) and returns one problem
// line for each image whose manifest or config cannot be read, whose
// layer blob is not available (layerOK says why: a blob the blob cache
// evicted is not damage, its layer is rebuilt from its snapshot), or
// whose layer is not unpacked (committed has no snapshot of its chain ID).
// It returns how many records there are.
func (s *Store) Check(ctx context.Context, committed map[string]bool,
	layerOK func(ctx context.Context, desc ocispec.Descriptor, diffID, chainID digest.Digest) error) (int, []string, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return 0, nil, err
	}
	var problems []string
	for _, r := range recs {
		name := Familiar(r.Name)
		if Untagged(r.Name) {
			name = "untagged image " + r.Target.Digest.String()
		}
		img, err := s.Load(ctx, r.Target)
		if err != nil {
			problems = append(problems, fmt.Sprintf("image %s: %v", name, err))
			continue
		}
		diffIDs, chains := img.DiffIDs(), img.ChainIDs()
		for i, l := range img.Manifest.Layers {
			if err := layerOK(ctx, l, diffIDs[i], chains[i]); err != nil {
				problems = append(problems, fmt.Sprintf("image %s: layer %d blob %s: %v", name, i, l.Digest, err))
			}
		}
		for i, c := range chains {
			if !committed[c.String()] {
				problems = append(problems, fmt.Sprintf("image %s: layer %d (%s) is not unpacked (snapshot %s missing)", name, i, diffIDs[i], c))
			}
		}
	}
	return len(recs), problems, nil
}
