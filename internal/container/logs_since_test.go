package container

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

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
