package progress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// StepKind says what a StepEvent tells about a build step.
type StepKind int

const (
	// StepPlanned gives Total, the number of steps the build expects
	// (ID is 0). More may start (ONBUILD triggers, squash).
	StepPlanned StepKind = iota
	// StepStarted is a step's first event; it carries the Name.
	StepStarted
	// StepOutput carries one Line the step printed, without its newline.
	StepOutput
	StepCached
	StepDone
	// StepFailed carries the step's Err.
	StepFailed
	// StepCanceled ends a step that stopped because the build did: another
	// stage failed, or the user interrupted it.
	StepCanceled
)

func (k StepKind) String() string {
	switch k {
	case StepPlanned:
		return "planned"
	case StepStarted:
		return "started"
	case StepOutput:
		return "output"
	case StepCached:
		return "cached"
	case StepDone:
		return "done"
	case StepFailed:
		return "failed"
	case StepCanceled:
		return "canceled"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// StepEvent is one change in a build step, BuildKit's vertex status.
type StepEvent struct {
	ID    int // the step's number, #N in the plain output
	Kind  StepKind
	Name  string // StepStarted: "[build 2/5] RUN make"
	Line  string // StepOutput
	Err   string // StepFailed
	Total int    // StepPlanned
	Time  time.Time
}

// StepReporter receives step events. It must be safe for concurrent use;
// a nil StepReporter discards them.
type StepReporter func(StepEvent)

// Report sends ev unless r is nil.
func (r StepReporter) Report(ev StepEvent) {
	if r != nil {
		r(ev)
	}
}

// StepDisplayOptions tune a StepDisplay. The zero value is the default.
type StepDisplayOptions struct {
	// Now is the clock (default time.Now): running steps and the header
	// show the time since their start by it.
	Now func() time.Time
	// Size is the terminal's size, asked before each frame so the display
	// follows a resize (default 80 columns and no height limit). A height
	// of 0 means no limit.
	Size func() (width, height int)
	// LogLines is how many of a running step's last output lines show
	// under it (default 6).
	LogLines int
}

// TerminalSize returns a StepDisplayOptions.Size for w: the terminal's
// size when w is one, else 80 columns and no height limit.
func TerminalSize(w io.Writer) func() (int, int) {
	return func() (int, int) {
		if f, ok := w.(*os.File); ok {
			if cols, rows, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols, rows
			}
		}
		return 80, 0
	}
}

// StepDisplay draws a build's steps on a terminal the way BuildKit's
// default (tty) display does:
//
//	[+] Building 4.2s (3/5)
//	 => [1/3] FROM busybox                                          0.0s
//	 => CACHED [2/3] COPY . /src                                    0.0s
//	 => [3/3] RUN make                                              3.2s
//	 => => # cc -c main.c
//
// The live area is redrawn in place (cursor up, then clear and rewrite
// each line that changed) by Start's ticker, never more often than every
// 100ms and never between ticks.
// Running and failed steps show their last output lines, finished ones
// one line. Close draws the final state, every step with its time, once,
// and after it each failed step's recent output with its name.
// Lines are cut to the terminal's width, never wrapped, and the live area
// keeps to its height by leaving out finished steps (the final state has
// them all).
//
// Report, Draw and Close are safe for concurrent use.
type StepDisplay struct {
	w      io.Writer
	now    func() time.Time
	size   func() (int, int)
	nlog   int
	start  time.Time
	drawMu sync.Mutex // held while a frame is made and written; taken before mu
	drawn  int        // lines of the live area on screen (drawMu)
	last   []string   // the lines on screen (drawMu)

	mu     sync.Mutex
	steps  []*stepState // by ID
	byID   map[int]*stepState
	total  int
	closed bool
	end    time.Time
	ok     bool // closed without an error

	startOnce, stopOnce sync.Once
	stop                chan struct{} // closed by Close to end the ticker
	done                chan struct{} // closed by the ticker as it returns; nil before Start
}

type stepState struct {
	id         int
	name       string
	state      StepKind // StepStarted while it runs
	start, end time.Time
	err        string
	logs       []logLine // the last keepLines, while it runs or after it failed
}

type logLine struct {
	at   time.Duration // since the step started
	text string
}

const (
	// keepLines is how much of a step's output a failure shows.
	keepLines = 200
	// maxLineBytes caps one kept line (a RUN can print megabytes without
	// a newline).
	maxLineBytes = 4096
	minWidth     = 20
)

// NewStepDisplay makes a display writing to w. It draws nothing until
// Start's ticker or Draw; Close draws the final state.
func NewStepDisplay(w io.Writer, opts StepDisplayOptions) *StepDisplay {
	d := &StepDisplay{w: w, now: opts.Now, size: opts.Size, nlog: opts.LogLines, byID: map[int]*stepState{},
		stop: make(chan struct{})}
	if d.now == nil {
		d.now = time.Now
	}
	if d.size == nil {
		d.size = func() (int, int) { return 80, 0 }
	}
	if d.nlog <= 0 {
		d.nlog = 6
	}
	d.start = d.now()
	return d
}

// Reporter returns d as a StepReporter.
func (d *StepDisplay) Reporter() StepReporter { return d.Report }

// Report records ev; the next frame shows it. Events after Close are
// dropped.
func (d *StepDisplay) Report(ev StepEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	at := ev.Time
	if at.IsZero() {
		at = d.now()
	}
	if ev.Kind == StepPlanned {
		d.total = ev.Total
		return
	}
	s := d.byID[ev.ID]
	if ev.Kind == StepStarted {
		if s != nil {
			return
		}
		s = &stepState{id: ev.ID, name: clean(ev.Name), state: StepStarted, start: at}
		d.byID[ev.ID] = s
		d.steps = append(d.steps, s)
		if n := len(d.steps); n > 1 && d.steps[n-2].id > s.id {
			// Steps may report their start out of order; keep them by ID.
			slices.SortFunc(d.steps, func(a, b *stepState) int { return a.id - b.id })
		}
		return
	}
	if s == nil || s.state != StepStarted {
		return // unknown, or already over
	}
	switch ev.Kind {
	case StepOutput:
		line := ev.Line
		if len(line) > maxLineBytes {
			line = line[:maxLineBytes]
		}
		s.logs = append(s.logs, logLine{at: at.Sub(s.start), text: clean(line)})
		if len(s.logs) >= 2*keepLines {
			s.logs = append(s.logs[:0], s.logs[len(s.logs)-keepLines:]...)
		}
	case StepCached, StepDone, StepCanceled:
		s.state, s.end, s.logs = ev.Kind, at, nil
	case StepFailed:
		s.state, s.end, s.err = StepFailed, at, ev.Err
		if len(s.logs) > keepLines {
			s.logs = s.logs[len(s.logs)-keepLines:]
		}
	}
}

// Start redraws the live area every 100ms until Close. Only its first
// call does anything.
func (d *StepDisplay) Start() {
	d.startOnce.Do(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.closed {
			return
		}
		d.done = make(chan struct{})
		t := time.NewTicker(redrawEvery)
		go func() {
			// Ends when Close closes stop; a tick only draws, so it
			// waits at most for a write to the terminal.
			defer close(d.done)
			defer t.Stop()
			for {
				select {
				case <-d.stop:
					return
				case <-t.C:
					d.Draw()
				}
			}
		}()
	})
}

// Draw redraws the live area now.
func (d *StepDisplay) Draw() {
	d.drawMu.Lock()
	defer d.drawMu.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	width, height := d.size()
	lines := d.frame(d.now(), width, height, false)
	d.mu.Unlock()
	d.write(lines, false)
}

// Close stops the ticker and draws the final state: every step once with
// its time and, when err is not nil, each failed step's recent output. A
// step still running becomes failed with err when no step failed and err
// is not a cancellation (the build failed without pinning it on a step),
// else canceled; without err, done. Close is idempotent; the caller
// prints err itself.
func (d *StepDisplay) Close(err error) {
	d.stopOnce.Do(func() { close(d.stop) })
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	ticking := d.done
	d.closed = true // a Start from now on does nothing
	d.mu.Unlock()
	if ticking != nil {
		<-ticking
	}
	d.drawMu.Lock()
	defer d.drawMu.Unlock()
	d.mu.Lock()
	now := d.now()
	failed := slices.ContainsFunc(d.steps, func(s *stepState) bool { return s.state == StepFailed })
	for _, s := range d.steps {
		if s.state != StepStarted {
			continue
		}
		switch {
		case err == nil:
			s.state, s.logs = StepDone, nil
		case !failed && !errors.Is(err, context.Canceled):
			s.state, s.err = StepFailed, err.Error()
		default:
			s.state, s.logs = StepCanceled, nil
		}
		s.end = now
	}
	d.end, d.ok = now, err == nil
	width, height := d.size()
	lines := d.frame(now, width, height, true)
	var b strings.Builder
	for _, s := range d.steps {
		if s.state != StepFailed {
			continue
		}
		// As BuildKit: the output is whole here, not cut to the width,
		// so it can be read and copied from the scrollback.
		fmt.Fprintf(&b, "------\n > %s:\n", s.name)
		for _, l := range s.logs {
			fmt.Fprintf(&b, "%.3f %s\n", l.at.Seconds(), l.text)
		}
		b.WriteString("------\n")
	}
	d.mu.Unlock()
	d.write(lines, true)
	if b.Len() > 0 {
		io.WriteString(d.w, b.String())
	}
}

// write replaces the live area on screen with lines: up to its first
// line, then each line that changed cleared and written (a newline steps
// over the others), and what is left of a longer previous frame cleared.
// The final frame (all) is written whole, so that the terminal's log
// has it in one piece. drawMu is held.
func (d *StepDisplay) write(lines []string, all bool) {
	if !all && slices.Equal(lines, d.last) {
		return
	}
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn) // "\x1b[0A" would move up one
	}
	for i, l := range lines {
		if !all && i < len(d.last) && d.last[i] == l {
			b.WriteByte('\n')
			continue
		}
		b.WriteString("\x1b[2K")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if len(lines) < d.drawn {
		b.WriteString("\x1b[J")
	}
	io.WriteString(d.w, b.String())
	d.drawn, d.last = len(lines), lines
}
