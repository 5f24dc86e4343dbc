package engine

import (
	"context"
	"fmt"

	"github.com/distribution/reference"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/manifest"
)

// Run and create pull an image they do not have, as docker's do; these are
// the engine's answers the front ends need for that.

// HasImage reports whether ref names an image in the store.
func (e *Engine) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := e.ResolveImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// TaggedName is ref as docker names it in "Unable to find image
// 'busybox:latest' locally": familiar, with the default tag.
func TaggedName(ref string) (string, error) {
	named, err := images.ParseName(ref)
	if err != nil {
		return "", err
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}

// CheckPlatform accepts a --platform of run or create that this machine
// runs, and refuses any other: Strata runs containers without emulation.
func CheckPlatform(s string) error {
	if s == "" {
		return nil
	}
	p, err := manifest.ParsePlatform(s)
	if err != nil {
		return err
	}
	host := manifest.Platform()
	if p.OS != host.OS || p.Architecture != host.Architecture || (p.Variant != "" && host.Variant != "" && p.Variant != host.Variant) {
		return fmt.Errorf("platform %q: this machine runs only %s (there is no emulation): %w", s, manifest.FormatPlatform(host), errdefs.ErrInvalidArgument)
	}
	return nil
}
