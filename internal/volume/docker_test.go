package volume

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/filters"
)

// ls and prune read docker's filters: ls by dangling, name (substring or
// pattern), label and driver; prune only unused volumes, anonymous ones
// unless all, by label and label!.
func TestSelectAndPruneFilters(t *testing.T) {
	users := map[string][]string{"web-data": {"web (0123456789ab)"}}
	s, err := Open(filepath.Join(t.TempDir(), "volumes"), Options{InUse: func(n string) []string { return users[n] }})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []CreateOptions{
		{Name: "web-data", Labels: map[string]string{"app": "web"}},
		{Name: "db-data", Labels: map[string]string{"app": "db"}},
		{Name: "anon-1", Labels: map[string]string{AnonymousLabel: ""}},
		{Name: "anon-2", Labels: map[string]string{AnonymousLabel: "", "keep": "1"}},
	} {
		if _, _, err := s.Create(o); err != nil {
			t.Fatal(err)
		}
	}
	names := func(f filters.Filters) []string {
		t.Helper()
		vs, err := s.Select(f)
		if err != nil {
			t.Fatalf("select %v: %v", f, err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}
	for _, tt := range []struct {
		f    filters.Filters
		want []string
	}{
		{filters.Filters{}, []string{"anon-1", "anon-2", "db-data", "web-data"}},
		{filters.Filters{"dangling": {"true"}}, []string{"anon-1", "anon-2", "db-data"}},
		{filters.Filters{"dangling": {"0"}}, []string{"web-data"}},
		{filters.Filters{"name": {"data"}}, []string{"db-data", "web-data"}},
		{filters.Filters{"name": {"^anon-[12]$"}}, []string{"anon-1", "anon-2"}},
		{filters.Filters{"label": {"app=db"}}, []string{"db-data"}},
		{filters.Filters{"label": {"app"}, "dangling": {"true"}}, []string{"db-data"}},
		{filters.Filters{"driver": {"nfs"}}, nil},
	} {
		if diff := cmp.Diff(tt.want, names(tt.f)); diff != "" {
			t.Errorf("select %v (-want +got):\n%s", tt.f, diff)
		}
	}
	if _, err := s.Select(filters.Filters{"until": {"1h"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("select until=: %v, want invalid argument", err)
	}
	if _, _, err := s.Prune(false, filters.Filters{"name": {"x"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("prune name=: %v, want invalid argument", err)
	}

	pruned, _, err := s.Prune(false, filters.Filters{"label!": {"keep"}})
	if err != nil || !slices.Equal(pruned, []string{"anon-1"}) {
		t.Fatalf("prune anonymous without keep: %v %v, want [anon-1]", pruned, err)
	}
	pruned, _, err = s.Prune(false, filters.Filters{"all": {"true"}})
	if err != nil || !slices.Equal(pruned, []string{"anon-2", "db-data"}) {
		t.Fatalf("prune all=true: %v %v, want [anon-2 db-data] (web-data is in use)", pruned, err)
	}
	if left := names(filters.Filters{}); !slices.Equal(left, []string{"web-data"}) {
		t.Errorf("left %v, want [web-data]", left)
	}
}
