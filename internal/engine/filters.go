package engine

import (
	"context"
	"time"

	"github.com/strata-project/strata/internal/filters"
	"github.com/strata-project/strata/internal/images"
)

// Filters are docker's --filter KEY=VALUE values, by key (package
// filters reads them).
type Filters filters.Filters

// The rules are package filters'; these name them for the engine's verbs.
var boolFilter = filters.Bools

func (f Filters) check(what string, allowed ...string) error {
	return filters.Filters(f).Check(what, allowed...)
}
func (f Filters) anyOf(key string, ok func(string) bool) bool {
	return filters.Filters(f).AnyOf(key, ok)
}
func (f Filters) labels(labels map[string]string) bool   { return filters.Filters(f).Labels(labels) }
func (f Filters) until(now time.Time) (time.Time, error) { return filters.Filters(f).Until(now) }

// MatchReference matches an image name against a reference filter or an
// images argument as docker does (images.MatchReference).
func MatchReference(pattern, name string) bool { return images.MatchReference(pattern, name) }

// FilterImages keeps the rows (ListImages') that pass docker's images
// filters (images.Store.Filter).
func (e *Engine) FilterImages(ctx context.Context, rows []ImageSummary, f Filters) ([]ImageSummary, error) {
	return e.Images.Filter(ctx, rows, filters.Filters(f))
}
