package build

import (
	"context"
	"errors"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
)

// pulls remembers, for one build, the images it pulled (or failed to), so
// that stages naming the same image pull it once.
type pulls struct {
	done map[string]error
}

// resolveImage finds the image a FROM, COPY --from or RUN --mount from=
// names. As docker build, an image the store lacks is pulled first when
// the backend can pull, and with --pull every named image is pulled again
// (once per build). Pulls run one at a time: two stages naming the same
// missing base wait for one pull.
func (b *builder) resolveImage(ctx context.Context, ref string, log *stepLog) (images.Image, error) {
	if b.be.Pull == nil {
		return b.be.Images.Resolve(ctx, ref)
	}
	b.pullMu.Lock()
	defer b.pullMu.Unlock()
	if err, ok := b.pulled.done[ref]; ok {
		if err != nil {
			return images.Image{}, err
		}
		return b.be.Images.Resolve(ctx, ref)
	}
	if !b.opts.Pull {
		img, err := b.be.Images.Resolve(ctx, ref)
		if !errors.Is(err, errdefs.ErrNotFound) {
			return img, err
		}
		if log != nil {
			log.note("Unable to find image '%s' locally: pulling it", ref)
		}
	} else if log != nil {
		log.note("pulling %s (--pull)", ref)
	}
	err := b.be.Pull(ctx, ref) // its error names the image
	if b.pulled.done == nil {
		b.pulled.done = map[string]error{}
	}
	b.pulled.done[ref] = err
	if err != nil {
		return images.Image{}, err
	}
	return b.be.Images.Resolve(ctx, ref)
}
