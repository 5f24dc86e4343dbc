package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"golang.org/x/term"
)

// Event is one change in the progress of an operation.
type Event struct {
	// ID names the item, usually a layer's short digest; "" makes the
	// event a message line of its own ("Digest: sha256:…").
	ID string
	// Action is docker's word for the state: Waiting, Downloading,
	// Verifying Checksum, Download complete, Extracting, Pull complete,
	// Already exists, Preparing, Pushing, Pushed, Layer already exists,
	// Mounted from REPO; or the whole message when ID is "".
	Action string
	// Current and Total count bytes while they move (Total 0: unknown).
	Current, Total int64
}

// Reporter receives events. It must be safe for concurrent use. A nil
// Reporter discards them; call Report rather than the func itself.
type Reporter func(Event)

// Report sends ev unless r is nil.
func (r Reporter) Report(ev Event) {
	if r != nil {
		r(ev)
	}
}

// Message reports a line of its own.
func (r Reporter) Message(format string, args ...any) {
	r.Report(Event{Action: fmt.Sprintf(format, args...)})
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Printer renders events to a writer. It is safe for concurrent use.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	order  []string
	lines  map[string]Event
	drawn  int // lines of the live area on screen
	last   time.Time
	dirty  bool
	closed bool
}

// NewPrinter renders to w: redrawn bars when tty, plain lines otherwise.
func NewPrinter(w io.Writer, tty bool) *Printer {
	return &Printer{w: w, tty: tty, lines: map[string]Event{}}
}

// Reporter returns p as a Reporter.
func (p *Printer) Reporter() Reporter { return p.Report }

// redrawEvery limits how often byte counts repaint the terminal.
const redrawEvery = 100 * time.Millisecond

// Report renders ev.
func (p *Printer) Report(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if ev.ID == "" {
		// A message ends the live area: what is above it stays as it is.
		if p.tty {
			p.redraw()
		}
		fmt.Fprintln(p.w, ev.Action)
		p.order, p.lines, p.drawn = nil, map[string]Event{}, 0
		return
	}
	prev, seen := p.lines[ev.ID]
	if !seen {
		p.order = append(p.order, ev.ID)
	}
	p.lines[ev.ID] = ev
	if !p.tty {
		if !seen || prev.Action != ev.Action {
			fmt.Fprintf(p.w, "%s: %s\n", ev.ID, ev.Action)
		}
		return
	}
	p.dirty = true
	if seen && prev.Action == ev.Action && time.Since(p.last) < redrawEvery {
		return
	}
	p.redraw()
}

// redraw repaints the live area: up to its first line, then every line.
func (p *Printer) redraw() {
	if !p.dirty {
		return
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, id := range p.order {
		b.WriteString("\x1b[2K")
		b.WriteString(Line(p.lines[id]))
		b.WriteByte('\n')
	}
	io.WriteString(p.w, b.String())
	p.drawn = len(p.order)
	p.last = time.Now()
	p.dirty = false
}

// Close paints the final state. Later events are dropped.
func (p *Printer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.redraw()
	}
	p.closed = true
}

// Line formats an event the way docker does, with a bar when bytes are
// counted against a known total.
func Line(ev Event) string {
	s := ev.ID + ": " + ev.Action
	if ev.Total > 0 && ev.Current >= 0 && (ev.Action == "Downloading" || ev.Action == "Pushing" || ev.Action == "Extracting" || ev.Action == "Loading layer") {
		s += " " + Bar(ev.Current, ev.Total) + "  " + HumanSize(ev.Current) + "/" + HumanSize(ev.Total)
	} else if ev.Current > 0 && ev.Total <= 0 {
		s += "  " + HumanSize(ev.Current)
	}
	return s
}

const barWidth = 50

// Bar draws docker's [=====>     ] for current of total.
func Bar(current, total int64) string {
	if total <= 0 {
		return ""
	}
	if current > total {
		current = total
	}
	n := int(current * barWidth / total)
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", n))
	if n < barWidth {
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", barWidth-n-1))
	}
	b.WriteByte(']')
	return b.String()
}

// HumanSize is the one size formatter of every table and progress line:
// decimal units with three significant digits ("12.3MB", "2MB"), as
// docker's CLI writes image and container sizes (go-units'
// HumanSizeWithPrecision(size, 3)).
func HumanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// Counter is an io.Writer that reports bytes written as the Current of
// an event, at most every interval (and always on Flush).
type Counter struct {
	r     Reporter
	ev    Event
	last  time.Time
	every time.Duration
}

// NewCounter reports Action for id, starting at start of total bytes.
func NewCounter(r Reporter, id, action string, start, total int64) *Counter {
	return &Counter{r: r, ev: Event{ID: id, Action: action, Current: start, Total: total}, every: 50 * time.Millisecond}
}

func (c *Counter) Write(b []byte) (int, error) {
	c.ev.Current += int64(len(b))
	if now := time.Now(); now.Sub(c.last) >= c.every {
		c.last = now
		c.r.Report(c.ev)
	}
	return len(b), nil
}

// Add counts n bytes without data passing through.
func (c *Counter) Add(n int64) { c.ev.Current += n; c.Write(nil) }

// Flush reports the current count.
func (c *Counter) Flush() { c.r.Report(c.ev) }

// Current is the count so far.
func (c *Counter) Current() int64 { return c.ev.Current }
