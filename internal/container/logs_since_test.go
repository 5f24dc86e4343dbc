package container

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseLogTime(t *testing.T) {
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
		got, err := ParseLogTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseLogTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "1.x", "-"} {
		if _, err := ParseLogTime(bad, now); err == nil {
			t.Errorf("ParseLogTime(%q): no error", bad)
		}
	}
}

// TestLogsSinceUntil: --since and --until keep the lines written in the
// window, and --tail counts within it.
func TestLogsSinceUntil(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	opts := baseOptions(chain, "sh", "-c", "echo one; sleep 0.6; echo two; sleep 0.6; echo three")
	c, _, err := s.Run(ctx, opts, RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	var o bytes.Buffer
	if err := s.Logs(ctx, c.ID, LogsOptions{Timestamps: true}, &o, &o); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(o.String()), "\n") {
		ts, _, _ := strings.Cut(line, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		times = append(times, tm)
	}
	if len(times) != 3 {
		t.Fatalf("log: %q", o.String())
	}
	logs := func(lo LogsOptions) string {
		var b bytes.Buffer
		if err := s.Logs(ctx, c.ID, lo, &b, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	mid := times[1]
	if got := logs(LogsOptions{Since: mid}); got != "two\nthree\n" {
		t.Errorf("since the second line: %q", got)
	}
	if got := logs(LogsOptions{Until: mid}); got != "one\ntwo\n" {
		t.Errorf("until the second line: %q", got)
	}
	if got := logs(LogsOptions{Since: mid, Until: mid}); got != "two\n" {
		t.Errorf("since and until the second line: %q", got)
	}
	if got := logs(LogsOptions{Until: mid, Tail: 1, TailSet: true}); got != "two\n" {
		t.Errorf("until the second line, tail 1: %q", got)
	}
	if got := logs(LogsOptions{Since: times[2].Add(time.Second)}); got != "" {
		t.Errorf("since after the last line: %q", got)
	}
	if err := s.Remove(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
}
