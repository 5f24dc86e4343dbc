package progress

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlainPrinter(t *testing.T) {
	var b strings.Builder
	p := NewPrinter(&b, false)
	r := p.Reporter()
	r.Message("latest: Pulling from app")
	r.Report(Event{ID: "aaa", Action: "Waiting"})
	r.Report(Event{ID: "bbb", Action: "Already exists"})
	r.Report(Event{ID: "aaa", Action: "Downloading", Current: 1, Total: 10})
	r.Report(Event{ID: "aaa", Action: "Downloading", Current: 5, Total: 10})
	r.Report(Event{ID: "aaa", Action: "Pull complete"})
	r.Message("Digest: sha256:x")
	p.Close()
	r.Message("dropped")
	want := "latest: Pulling from app\naaa: Waiting\nbbb: Already exists\naaa: Downloading\naaa: Pull complete\nDigest: sha256:x\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestTTYPrinterRedraws(t *testing.T) {
	var b strings.Builder
	p := NewPrinter(&b, true)
	r := p.Reporter()
	r.Report(Event{ID: "aaa", Action: "Downloading", Current: 5, Total: 10})
	r.Report(Event{ID: "bbb", Action: "Waiting"})
	r.Report(Event{ID: "aaa", Action: "Pull complete"})
	p.Close()
	out := b.String()
	if !strings.Contains(out, "\x1b[2A") {
		t.Errorf("no cursor-up redraw in %q", out)
	}
	if !strings.Contains(out, "aaa: Downloading [=========================>") || !strings.Contains(out, "5B/10B") {
		t.Errorf("no bar in %q", out)
	}
	if !strings.HasSuffix(out, "\x1b[2Kaaa: Pull complete\n\x1b[2Kbbb: Waiting\n") {
		t.Errorf("final state wrong: %q", out)
	}
}

func TestHumanSizeAndBar(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0B"}, {999, "999B"}, {12_345_678, "12.3MB"}, {50_000_000, "50MB"}, {1_500_000_000, "1.5GB"}} {
		if got := HumanSize(tc.n); got != tc.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := Bar(10, 10); got != "["+strings.Repeat("=", 50)+"]" {
		t.Errorf("full bar %q", got)
	}
	if got := Bar(0, 10); got != "[>"+strings.Repeat(" ", 49)+"]" {
		t.Errorf("empty bar %q", got)
	}
}
