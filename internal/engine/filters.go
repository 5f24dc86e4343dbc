package engine

import (
	"context"

	"github.com/strata-project/strata/internal/filters"
	"github.com/strata-project/strata/internal/images"
)

// Filters are docker's --filter KEY=VALUE values, by key (package
// filters reads them; the packages whose verbs take them check and match
// them).
type Filters filters.Filters

// MatchReference matches an image name against a reference filter or an
// images argument as docker does (images.MatchReference).
func MatchReference(pattern, name string) bool { return images.MatchReference(pattern, name) }

// FilterImages keeps the rows (ListImages') that pass docker's images
// filters (images.Store.Filter).
func (e *Engine) FilterImages(ctx context.Context, rows []ImageSummary, f Filters) ([]ImageSummary, error) {
	return e.Images.Filter(ctx, rows, filters.Filters(f))
}
