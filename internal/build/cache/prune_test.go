package cache

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPruneSelect: what builder prune removes, and in which order, for
// each of its options (the rule in PruneOptions).
func TestPruneSelect(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	ents := []Entry{
		{ID: "layer-new", Type: TypeLayer, Size: 100, LastUsed: ago(1)},
		{ID: "mount-old", Type: TypeMount, Size: 400, LastUsed: ago(50)},
		{ID: "layer-shared", Type: TypeLayer, Size: 1000, LastUsed: ago(60), Shared: true},
		{ID: "mount-busy", Type: TypeMount, Size: 300, LastUsed: ago(70), InUse: true},
		{ID: "layer-old", Type: TypeLayer, Size: 200, LastUsed: ago(40)},
		{ID: "mount-new", Type: TypeMount, Size: 50, LastUsed: ago(2)},
	}
	tests := []struct {
		name string
		opts PruneOptions
		want []string
	}{
		{"default: all not in use or shared", PruneOptions{},
			[]string{"mount-old", "layer-old", "mount-new", "layer-new"}},
		{"all: shared too, never in use", PruneOptions{All: true},
			[]string{"layer-shared", "mount-old", "layer-old", "mount-new", "layer-new"}},
		// Unshared total 1050 (the busy mount's 300 counts, and stays):
		// drop mount-old (650), then layer-old (450 fits).
		{"keep-storage, LRU over layers and mounts", PruneOptions{KeepStorage: 500},
			[]string{"mount-old", "layer-old"}},
		{"keep-storage fits already", PruneOptions{KeepStorage: 1050}, nil},
		{"keep-storage below what is in use", PruneOptions{KeepStorage: 1},
			[]string{"mount-old", "layer-old", "mount-new", "layer-new"}},
		// With --all the shared layer counts (2050) and goes first.
		{"all and keep-storage", PruneOptions{All: true, KeepStorage: 700},
			[]string{"layer-shared", "mount-old"}},
		{"until keeps recent use", PruneOptions{KeepDuration: 24 * time.Hour},
			[]string{"mount-old", "layer-old"}},
		{"until and keep-storage", PruneOptions{KeepDuration: 45 * time.Hour, KeepStorage: 100},
			[]string{"mount-old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, en := range pruneSelect(ents, tt.opts, now) {
				got = append(got, en.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
		})
	}
}
