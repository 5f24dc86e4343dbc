package images

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/distribution/reference"

	"github.com/strata-project/strata/internal/filters"
)

// Filter keeps the rows (Summaries') that pass docker's images filters:
// dangling=true|false, label=KEY[=VALUE], label!=, reference=PATTERN
// (MatchReference), before= and since= IMAGE (created before or after it)
// and until= (created before a time or a duration ago).
func (s *Store) Filter(ctx context.Context, rows []Summary, f filters.Filters) ([]Summary, error) {
	if err := f.Check("images", "dangling", "label", "label!", "reference", "before", "since", "until"); err != nil {
		return nil, err
	}
	created := func(key string) ([]time.Time, error) {
		var out []time.Time
		for _, ref := range f[key] {
			img, err := s.Resolve(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("invalid filter '%s=%s': %w", key, ref, err)
			}
			out = append(out, img.Created())
		}
		return out, nil
	}
	before, err := created("before")
	if err != nil {
		return nil, err
	}
	since, err := created("since")
	if err != nil {
		return nil, err
	}
	until, _ := f.Until(time.Now())
	var out []Summary
	for _, r := range rows {
		dangling := r.Repository == "<none>"
		ok := f.Labels(r.Labels) &&
			f.AnyOf("dangling", func(v string) bool { return filters.Bool(v) == dangling }) &&
			f.AnyOf("reference", func(p string) bool { return !dangling && MatchReference(p, r.Repository+":"+r.Tag) }) &&
			(until.IsZero() || r.Created.Before(until))
		for _, t := range before {
			ok = ok && r.Created.Before(t)
		}
		for _, t := range since {
			ok = ok && r.Created.After(t)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// PruneSelect is what image prune removes before it asks which images a
// container uses: the untagged ones (all with all, or dangling=false) that
// pass f (until=, label=, label!=, docker's image prune filters).
func (s *Store) PruneSelect(ctx context.Context, all bool, f filters.Filters) ([]Image, error) {
	if err := f.Check("image prune", "until", "label", "label!", "dangling"); err != nil {
		return nil, err
	}
	imgs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range f["dangling"] {
		all = all || !filters.Bool(v)
	}
	until, _ := f.Until(time.Now())
	var out []Image
	for _, img := range imgs {
		if !img.Dangling() && !all || !f.Labels(img.Config.Config.Labels) {
			continue
		}
		if !until.IsZero() && (img.Config.Created == nil || !img.Config.Created.Before(until)) {
			continue
		}
		out = append(out, img)
	}
	return out, nil
}

// MatchReference matches an image name (name:tag) against a reference
// filter or an images argument as docker does: a shell pattern (busy*,
// */app:v?) over the familiar name or the full one, the tag optional.
func MatchReference(pattern, name string) bool {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return false
	}
	// Every pattern is tried against the name with and without its tag,
	// as moby's reference.FamiliarMatch: a ':' in the pattern may be a
	// registry's port (127.0.0.1:5000/app), not a tag.
	cands := []string{reference.FamiliarString(named), named.String(), reference.FamiliarName(named), named.Name()}
	for _, cand := range cands {
		if ok, _ := path.Match(pattern, cand); ok {
			return true
		}
	}
	return false
}
