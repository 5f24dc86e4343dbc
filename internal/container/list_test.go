package container

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/testutil"
)

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{500 * time.Millisecond, "Less than a second"},
		{time.Second, "1 second"},
		{3 * time.Second, "3 seconds"},
		{61 * time.Second, "About a minute"},
		{5 * time.Minute, "5 minutes"},
		{time.Hour, "About an hour"},
		{3 * time.Hour, "3 hours"},
		{72 * time.Hour, "3 days"},
		{21 * 24 * time.Hour, "3 weeks"},
		{90 * 24 * time.Hour, "3 months"},
		{3 * 365 * 24 * time.Hour, "3 years"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestPauseSizeInspect(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	ctx := context.Background()
	c, _, err := s.Run(ctx, baseOptions(chain, "sh", "-c", "head -c 100000 /dev/zero > /big; sleep 60"), RunOptions{Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the 100000 bytes written in the container", func() bool {
		l, _ := s.List(ctx, ListOptions{Size: true})
		return len(l) == 1 && l[0].SizeRw >= 100000
	})
	if err := s.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	l, _ := s.List(ctx, ListOptions{})
	if len(l) != 1 || l[0].State != "paused" || !strings.HasSuffix(l[0].Status, "(Paused)") {
		t.Errorf("ps of a paused container: %+v", l)
	}
	if err := s.Unpause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	d, err := s.Inspect(ctx, c.Name)
	if err != nil || !d.State.Running || d.State.Pid == 0 || d.Path != "sh" {
		t.Errorf("inspect: %+v %v", d, err)
	}
	if err := s.Remove(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
}
