package engine

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// FilterImages keeps the rows (ListImages') that pass docker's images
// filters: dangling=true|false, label=KEY[=VALUE], label!=, reference=
// PATTERN (MatchReference), before= and since= IMAGE (created before or
// after it) and until= (created before a time or a duration ago).
func (e *Engine) FilterImages(ctx context.Context, rows []ImageSummary, f Filters) ([]ImageSummary, error) {
	if err := f.check("images", "dangling", "label", "label!", "reference", "before", "since", "until"); err != nil {
		return nil, err
	}
	created := func(key string) ([]time.Time, error) {
		var out []time.Time
		for _, ref := range f[key] {
			img, err := e.ResolveImage(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("invalid filter '%s=%s': %w", key, ref, err)
			}
			var t time.Time
			if img.Config.Created != nil {
				t = *img.Config.Created
			}
			out = append(out, t)
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
	until, _ := f.until(time.Now())
	var out []ImageSummary
	for _, r := range rows {
		dangling := r.Repository == "<none>"
		ok := f.labels(r.Labels) &&
			f.anyOf("dangling", func(v string) bool { return boolFilter[strings.ToLower(v)] == dangling }) &&
			f.anyOf("reference", func(p string) bool { return !dangling && MatchReference(p, r.Repository+":"+r.Tag) }) &&
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
