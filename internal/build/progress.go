package build

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// printer writes BuildKit's plain progress shape:
//
//	#3 [build 2/5] RUN make
//	#3 0.412 compiling…
//	#3 DONE 1.3s
//
// Stages run in parallel, so every line is written whole under a lock.
type printer struct {
	mu      sync.Mutex
	w       io.Writer // nil: quiet
	verbose bool      // --progress plain: say why a step missed the cache
	n       int
}

type stepLog struct {
	p     *printer
	id    int
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

func (p *printer) step(title string) *stepLog {
	p.mu.Lock()
	p.n++
	s := &stepLog{p: p, id: p.n, start: time.Now()}
	p.mu.Unlock()
	p.printf("#%d %s\n", s.id, title)
	return s
}

func (s *stepLog) cached(what string) {
	s.p.printf("#%d CACHED %s\n", s.id, what)
}

func (s *stepLog) miss(reason string) {
	if s.p.verbose && reason != "" {
		s.p.printf("#%d cache miss: %s\n", s.id, reason)
	}
}

func (s *stepLog) note(format string, args ...any) {
	s.p.printf("#%d %s\n", s.id, fmt.Sprintf(format, args...))
}

func (s *stepLog) done() {
	s.p.printf("#%d DONE %.1fs\n", s.id, time.Since(s.start).Seconds())
}

func (s *stepLog) failed(err error) {
	s.p.printf("#%d ERROR: %v\n", s.id, err)
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
