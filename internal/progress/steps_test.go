package progress

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// clock is a StepDisplayOptions.Now that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *clock) Now() time.Time    { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(d float64)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = at(d) }
func at(seconds float64) time.Time { return t0.Add(time.Duration(seconds * float64(time.Second))) }

// script drives a display: events at times (seconds after t0), and
// "draw" to draw a frame then.
type step struct {
	at   float64
	ev   StepEvent
	draw bool
}

func ev(sec float64, id int, kind StepKind, text string) step {
	e := StepEvent{ID: id, Kind: kind, Time: at(sec)}
	switch kind {
	case StepStarted:
		e.Name = text
	case StepOutput:
		e.Line = text
	case StepFailed:
		e.Err = text
	case StepPlanned:
		e.Total = id
		e.ID = 0
	}
	return step{at: sec, ev: e}
}

func draw(sec float64) step { return step{at: sec, draw: true} }

// play runs script on a display of width × height and returns what it
// wrote, with ESC shown as ␛ and each frame on a line of its own (a
// frame starts with a cursor move or, first, with a clear).
func play(t *testing.T, width, height int, script []step, closeErr error, closeAt float64) string {
	t.Helper()
	c := &clock{t: t0}
	var out strings.Builder
	d := NewStepDisplay(&out, StepDisplayOptions{Now: c.Now, Size: func() (int, int) { return width, height }})
	for _, s := range script {
		c.set(s.at)
		if s.draw {
			fmt.Fprintf(&out, "~~~ frame at %.1fs\n", s.at)
			d.Draw()
			continue
		}
		d.Report(s.ev)
	}
	c.set(closeAt)
	fmt.Fprintf(&out, "~~~ close at %.1fs\n", closeAt)
	d.Close(closeErr)
	return strings.ReplaceAll(out.String(), "\x1b", "␛")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

func TestStepDisplaySingleStage(t *testing.T) {
	script := []step{
		ev(0, 4, StepPlanned, ""),
		ev(0.0, 1, StepStarted, "[1/4] FROM busybox"),
		ev(0.02, 1, StepDone, ""),
		ev(0.02, 2, StepStarted, "[2/4] COPY . /src"),
		ev(0.05, 2, StepCached, ""),
		ev(0.05, 3, StepStarted, "[3/4] RUN make"),
		draw(0.1),
		ev(0.3, 3, StepOutput, "cc -c a.c"),
		ev(0.4, 3, StepOutput, "cc -c b.c"),
		draw(0.5),
		ev(0.6, 3, StepOutput, "cc -c c.c"),
		ev(0.7, 3, StepOutput, "cc -c d.c"),
		ev(0.8, 3, StepOutput, "cc -c e.c"),
		ev(0.9, 3, StepOutput, "cc -c f.c"),
		ev(1.0, 3, StepOutput, "\tcc\t-o app a.o b.o \x1b[1;32mc.o\x1b[0m"),
		ev(1.1, 3, StepOutput, "linking  10%\rlinking  50%\rlinking 100%\r"),
		draw(1.2),
		draw(1.2), // unchanged: not written again
		ev(2.0, 3, StepDone, ""),
		ev(2.0, 4, StepStarted, "[4/4] RUN make install"),
		ev(2.2, 4, StepOutput, "install -m 755 app /usr/local/bin"),
		draw(2.3),
		ev(2.5, 4, StepDone, ""),
	}
	golden(t, "steps_single.golden", play(t, 60, 0, script, nil, 2.6))
}

func TestStepDisplayParallelFailure(t *testing.T) {
	script := []step{
		ev(0, 6, StepPlanned, ""),
		ev(0, 1, StepStarted, "[web 1/3] FROM node"),
		ev(0, 2, StepStarted, "[api 1/3] FROM golang"),
		ev(0.1, 2, StepDone, ""),
		ev(0.1, 1, StepDone, ""),
		ev(0.1, 4, StepStarted, "[api 2/3] RUN go build ./..."),
		ev(0.1, 3, StepStarted, "[web 2/3] RUN npm ci"), // reported after #4: shown in ID order
		ev(0.5, 3, StepOutput, "added 1 package"),
		ev(0.6, 4, StepOutput, "# example.com/api"),
		ev(0.7, 4, StepOutput, "./main.go:3:2: undefined: x"),
		draw(0.8),
		ev(0.9, 4, StepFailed, "Dockerfile:9: RUN go build ./...: the command exited with code 1"),
		draw(1.0),
		ev(1.1, 3, StepCanceled, ""),
		ev(1.1, 3, StepOutput, "dropped: the step is over"),
	}
	golden(t, "steps_failure.golden", play(t, 64, 0, script, errors.New("build failed"), 1.2))
}

// A step the build did not say failed, still running at Close with an
// error, is the failure, and its output is shown; once a step failed,
// the others still running were canceled.
func TestStepDisplayCloseEndsRunningSteps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failed  bool
		err     error
		want    []string
		notWant []string
	}{
		{"error nobody claimed", false, errors.New("boom"),
			[]string{" => ERROR [2/2] COPY x /x", "------\n > [2/2] COPY x /x:\n0.100 warning: x\n------\n"}, []string{"FINISHED"}},
		{"after a failure", true, errors.New("boom"),
			[]string{" => CANCELED [2/2] COPY x /x", " => ERROR [3/3] RUN false"}, []string{"COPY x /x:", "FINISHED"}},
		{"interrupted", false, fmt.Errorf("build: %w", context.Canceled),
			[]string{" => CANCELED [2/2] COPY x /x"}, []string{"ERROR", "------", "FINISHED"}},
		{"no error", false, nil,
			[]string{" => [2/2] COPY x /x", "(2/2) FINISHED"}, []string{"ERROR", "------"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := []step{
				ev(0, 1, StepStarted, "[1/2] FROM busybox"),
				ev(0, 1, StepDone, ""),
				ev(0, 2, StepStarted, "[2/2] COPY x /x"),
				ev(0.1, 2, StepOutput, "warning: x"),
			}
			if tc.failed {
				script = append(script, ev(0.1, 3, StepStarted, "[3/3] RUN false"), ev(0.2, 3, StepFailed, "exit 1"))
			}
			out := play(t, 80, 0, script, tc.err, 1)
			_, final, _ := strings.Cut(out, "~~~ close at")
			for _, w := range tc.want {
				if !strings.Contains(final, w) {
					t.Errorf("final output has no %q:\n%s", w, final)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(final, w) {
					t.Errorf("final output has %q:\n%s", w, final)
				}
			}
		})
	}
}

// Every line fits the width, which is asked again before each frame.
func TestStepDisplayCutsToWidth(t *testing.T) {
	c := &clock{t: t0}
	var out strings.Builder
	width := 40
	d := NewStepDisplay(&out, StepDisplayOptions{Now: c.Now, Size: func() (int, int) { return width, 0 }})
	d.Report(StepEvent{ID: 1, Kind: StepStarted, Name: "[build 1/2] RUN " + strings.Repeat("very-long-argument ", 10), Time: at(0)})
	d.Report(StepEvent{ID: 1, Kind: StepOutput, Line: strings.Repeat("é", 200), Time: at(0.1)})
	c.set(12.34)
	d.Draw()
	width = 25
	c.set(13)
	d.Draw()
	d.Close(nil)
	frames := strings.Split(out.String(), "\x1b[2K")
	for _, f := range frames[1:] {
		line, _, _ := strings.Cut(f, "\n")
		if n := utf8.RuneCountInString(line); n > 39 {
			t.Errorf("line of %d runes (width 40): %q", n, line)
		}
	}
	for _, want := range []string{
		"\x1b[2K => [build 1/2] RUN very-long-arg 12.3s\n",
		"\x1b[2K => => # " + strings.Repeat("é", 30) + "\n",
		"\x1b[2K => [build 1/2] RU 13.0s\n", // 24 columns
		"\x1b[2K => => # " + strings.Repeat("é", 15) + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in %q", want, out.String())
		}
	}
}

// On a short terminal the live area leaves out finished steps, so that
// cursor-up reaches its top; the final state lists them all.
func TestStepDisplayKeepsToHeight(t *testing.T) {
	var script []step
	for i := 1; i <= 20; i++ {
		script = append(script, ev(float64(i)/10, i, StepStarted, fmt.Sprintf("[%d/21] COPY f%d /", i, i)), ev(float64(i)/10, i, StepDone, ""))
	}
	script = append(script, ev(2, 21, StepStarted, "[21/21] RUN make"))
	for i := range 10 {
		script = append(script, ev(2.1, 21, StepOutput, fmt.Sprintf("line %d", i)))
	}
	script = append(script, draw(2.5))
	out := play(t, 50, 10, script, nil, 3)
	live, final, _ := strings.Cut(out, "~~~ close at")
	if n := strings.Count(live, "␛[2K"); n != 9 {
		t.Errorf("live area of %d lines on a 10-line terminal, want 9:\n%s", n, live)
	}
	for _, want := range []string{"COPY f20 /", "RUN make", "line 4", "line 9"} {
		if !strings.Contains(live, want) {
			t.Errorf("live area has no %q:\n%s", want, live)
		}
	}
	if strings.Contains(live, "COPY f19 /") || strings.Contains(live, "line 3") {
		t.Errorf("live area is too tall:\n%s", live)
	}
	if !strings.HasPrefix(final, " 3.0s\n␛[9A") {
		t.Errorf("final state does not start at the live area's top: %q", final)
	}
	for i := 1; i <= 20; i++ {
		if n := strings.Count(final, fmt.Sprintf(" COPY f%d / ", i)); n != 1 {
			t.Errorf("final state lists step %d %d times:\n%s", i, n, final)
		}
	}
}

// The ticker redraws while events come from many goroutines, at most
// every 100ms, and Close stops it: run with -race.
func TestStepDisplayTicker(t *testing.T) {
	var out testutil.SyncBuffer
	d := NewStepDisplay(&out, StepDisplayOptions{})
	start := time.Now()
	d.Start()
	d.Start() // a second Start does nothing
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := g + 1
			d.Report(StepEvent{ID: id, Kind: StepStarted, Name: fmt.Sprintf("[s%d 1/1] RUN work", g)})
			for i := range 200 {
				d.Report(StepEvent{ID: id, Kind: StepOutput, Line: fmt.Sprintf("line %d", i)})
				time.Sleep(time.Millisecond) // paced output across ticks: what is tested
			}
			d.Report(StepEvent{ID: id, Kind: StepDone})
		}()
	}
	wg.Wait()
	d.Close(nil)
	elapsed := time.Since(start)
	select {
	case <-d.done:
	default:
		t.Fatal("the ticker goroutine still runs after Close")
	}
	d.Close(nil) // idempotent
	d.Report(StepEvent{ID: 99, Kind: StepStarted, Name: "late"})
	d.Draw()
	got := out.String()
	frames := strings.Count(got, "[+] Building")
	if most := int(elapsed/redrawEvery) + 2; frames > most || frames < 2 {
		t.Errorf("%d frames in %v, want 2 to %d", frames, elapsed, most)
	}
	if !strings.Contains(got, "\x1b[2K") || !strings.Contains(got, "A\x1b[2K[+] Building") {
		t.Errorf("no redraw in place:\n%q", got)
	}
	_, final, _ := strings.Cut(got[strings.LastIndex(got, "[+] Building"):], "\n")
	for g := range 8 {
		if n := strings.Count(final, fmt.Sprintf(" => [s%d 1/1] RUN work ", g)); n != 1 {
			t.Errorf("final state lists step %d %d times:\n%s", g, n, final)
		}
	}
	if strings.Contains(final, "late") || strings.Contains(final, "=> =>") {
		t.Errorf("final state has output lines or a late step:\n%s", final)
	}
}

func TestCleanLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\tb", "a       b"},
		{"1234567\tb\tc", "1234567 b       c"},
		{"\x1b[1;31mred\x1b[0m text", "red text"},
		{"\x1b]0;title\x07after", "after"},
		{"\x1b]8;;http://x\x1b\\link", "link"},
		{"10%\r50%\r100%", "100%"},
		{"done\r", "done"},
		{"bell\a and nul\x00", "bell and nul"},
		{"bad \xff byte", "bad \ufffd byte"},
		{"trailing esc \x1b", "trailing esc "},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
