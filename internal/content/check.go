package content

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-project/strata/internal/errdefs"
)

// Check re-hashes every committed blob (system fsck). It returns how many
// there are; problems, one line per corrupt blob saying what to do; and
// notes, the harmless leftovers gc removes (unfinished ingests).
func (s *Store) Check(ctx context.Context) (blobs int, problems, notes []string, err error) {
	err = s.Walk(ctx, func(info Info) error {
		blobs++
		if err := s.Verify(ctx, info.Digest); err != nil {
			if errors.Is(err, errdefs.ErrDataCorrupt) {
				problems = append(problems, fmt.Sprintf("blob %s is corrupt: %v; remove the images that use it and pull or import them again", info.Digest, err))
				return nil
			}
			return err
		}
		return nil
	})
	if err != nil {
		return blobs, problems, nil, err
	}
	if ings, err := s.Ingests(ctx); err == nil && len(ings) > 0 {
		notes = append(notes, fmt.Sprintf("%d unfinished ingest(s) (resumable downloads or writes cut short; gc removes abandoned ones)", len(ings)))
	}
	return blobs, problems, notes, nil
}
