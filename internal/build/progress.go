package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/strata-project/strata/internal/progress"
)

// printer writes BuildKit's plain progress shape:
//
//	#3 [build 2/5] RUN make
//	#3 0.412 compiling…
//	#3 DONE 1.3s
//
// Stages run in parallel, so every line is written whole under a lock.
//
// Each step change and output line also goes to disp as a
// progress.StepEvent, for the terminal display, in the same order.
type printer struct {
	mu      sync.Mutex
	w       io.Writer // nil: quiet
	verbose bool      // --progress plain: say why a step missed the cache
	n       int
	disp    progress.StepReporter
	open    map[int]*stepLog // steps disp was told started and not how they ended
}

type stepLog struct {
	p     *printer
	id    int
	stage int // the stage's index; -1 for the image's own steps (squash)
	start time.Time
	mu    sync.Mutex
	tail  []string // the last lines of output, for a failure message
	part  []byte
}

const tailLines = 10

func (p *printer) printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// plan tells the display how many steps the build expects.
func (p *printer) plan(n int) {
	if p != nil && p.disp != nil {
		p.disp.Report(progress.StepEvent{Kind: progress.StepPlanned, Total: n, Time: time.Now()})
	}
}

func (p *printer) step(stage int, title string) *stepLog {
	p.mu.Lock()
	p.n++
	s := &stepLog{p: p, id: p.n, stage: stage, start: time.Now()}
	if p.disp != nil {
		if p.open == nil {
			p.open = map[int]*stepLog{}
		}
		p.open[s.id] = s
		p.disp.Report(progress.StepEvent{ID: s.id, Kind: progress.StepStarted, Name: title, Time: s.start})
	}
	p.mu.Unlock()
	p.printf("#%d %s\n", s.id, title)
	return s
}

// end tells the display how step s ended (once; later calls do nothing).
func (s *stepLog) end(kind progress.StepKind, err error) {
	p := s.p
	if p.disp == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[s.id] == nil {
		return
	}
	delete(p.open, s.id)
	ev := progress.StepEvent{ID: s.id, Kind: kind, Time: time.Now()}
	if err != nil {
		ev.Err = err.Error()
	}
	p.disp.Report(ev)
}

// abort ends, for the display, the steps of stage that are still open
// when it returns err: failed with err, or canceled when the stage only
// stopped because the build did (canceled is set, or err says so).
func (p *printer) abort(stage int, err error, canceled bool) {
	if p == nil || p.disp == nil {
		return
	}
	p.mu.Lock()
	var open []*stepLog
	for _, s := range p.open {
		if s.stage == stage {
			open = append(open, s)
		}
	}
	p.mu.Unlock()
	for _, s := range open {
		if canceled || stopped(err) {
			s.end(progress.StepCanceled, nil)
		} else {
			s.end(progress.StepFailed, err)
		}
	}
}

// stopped reports whether err only says the step stopped because the
// build did: cancelled, or a stage it needs failed.
func stopped(err error) bool {
	var sf *stageFailedError
	return errors.Is(err, context.Canceled) || errors.As(err, &sf)
}

func (s *stepLog) cached(what string) {
	s.p.printf("#%d CACHED %s\n", s.id, what)
	s.end(progress.StepCached, nil)
}

func (s *stepLog) miss(reason string) {
	if s.p.verbose && reason != "" {
		s.p.printf("#%d cache miss: %s\n", s.id, reason)
	}
}

func (s *stepLog) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.p.printf("#%d %s\n", s.id, msg)
	s.output(msg)
}

// output sends a line of the step's output to the display.
func (s *stepLog) output(l string) {
	if s.p.disp == nil {
		return
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.open[s.id] != nil {
		s.p.disp.Report(progress.StepEvent{ID: s.id, Kind: progress.StepOutput, Line: l, Time: time.Now()})
	}
}

func (s *stepLog) done() {
	s.p.printf("#%d DONE %.1fs\n", s.id, time.Since(s.start).Seconds())
	s.end(progress.StepDone, nil)
}

func (s *stepLog) failed(err error) {
	s.p.printf("#%d ERROR: %v\n", s.id, err)
	if stopped(err) {
		s.end(progress.StepCanceled, nil)
	} else {
		s.end(progress.StepFailed, err)
	}
}

// Write takes a RUN's output and prints it line by line with the time
// since the step started, keeping the last lines.
func (s *stepLog) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.part = append(s.part, b...)
	for {
		i := bytes.IndexByte(s.part, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.part[:i]))
		s.part = s.part[i+1:]
	}
	if len(s.part) > 64*1024 {
		s.line(string(s.part))
		s.part = s.part[:0]
	}
	return len(b), nil
}

func (s *stepLog) line(l string) {
	l = strings.TrimRight(l, "\r")
	s.tail = append(s.tail, l)
	if len(s.tail) > tailLines {
		s.tail = s.tail[len(s.tail)-tailLines:]
	}
	s.p.printf("#%d %.3f %s\n", s.id, time.Since(s.start).Seconds(), l)
	s.output(l)
}

func (s *stepLog) flush() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.part) > 0 {
		s.line(string(s.part))
		s.part = nil
	}
	return append([]string(nil), s.tail...)
}
