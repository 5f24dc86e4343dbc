package filters

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.25", time.Unix(1700000000, 250000000)},
		{"2026-11-23T18:00:00Z", time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)},
		{"2026-11-23T18:00:00.5+01:00", time.Date(2026, 11, 23, 17, 0, 0, 500000000, time.UTC)},
		{"2026-11-23T18:00:00", time.Date(2026, 11, 23, 18, 0, 0, 0, time.Local)},
		{"2026-11-23", time.Date(2026, 11, 23, 0, 0, 0, 0, time.Local)},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "1.x", "-"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q): no error", bad)
		}
	}
}
