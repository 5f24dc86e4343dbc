package api

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// muxWriter frames what it is given in docker's multiplexed stream: an
// 8-byte header (stream id, three zero bytes, big-endian length) before
// each write, so one connection carries stdout (1) and stderr (2).
type muxWriter struct {
	mu *sync.Mutex
	w  io.Writer
	id byte
}

func (m muxWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var hdr [8]byte
	hdr[0] = m.id
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := m.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := m.w.Write(p)
	if f, ok := m.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}

// flushWriter flushes after each write (a raw tty stream).
type flushWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (f flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// streams returns the writers of a container's stdout and stderr on w:
// raw with a tty (one stream), multiplexed without; a stream not asked
// for is discarded.
func streams(w io.Writer, tty, stdout, stderr bool) (io.Writer, io.Writer) {
	mu := &sync.Mutex{}
	var o, e io.Writer = io.Discard, io.Discard
	if tty {
		if stdout {
			o = flushWriter{mu, w}
		}
		if stderr {
			e = flushWriter{mu, w}
		}
		return o, e
	}
	if stdout {
		o = muxWriter{mu, w, 1}
	}
	if stderr {
		e = muxWriter{mu, w, 2}
	}
	return o, e
}

// attachment is a client's hijacked connection waiting for (or streaming)
// a container's run.
type attachment struct {
	conn           net.Conn
	rw             *bufio.ReadWriter
	stdin          bool
	stdout, stderr bool
	tty            bool
	answered       chan struct{} // closed once the client has its 101 (or the answer failed)
}

// run is one start of a container by this server: done closes when its
// process has exited, code holding its status.
type run struct {
	done   chan struct{}
	code   int
	err    error
	resize chan engine.Winsize // the terminal's size changes, with a tty
}

// runs coordinates docker run's three requests, which arrive on separate
// connections in any order: attach (held until start), wait
// (condition=next-exit, answered at the exit) and start. It holds only
// what is in flight; the engine keeps every container's state.
type runs struct {
	mu       sync.Mutex
	attached map[string]*attachment
	current  map[string]*run
	started  map[string]chan struct{} // closed when a run of the id begins
}

func newRuns() *runs {
	return &runs{attached: map[string]*attachment{}, current: map[string]*run{}, started: map[string]chan struct{}{}}
}

func (rs *runs) takeAttach(id string) *attachment {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	a := rs.attached[id]
	delete(rs.attached, id)
	return a
}

// begin records a new run of id and wakes the waiters for its next exit.
func (rs *runs) begin(id string, tty bool) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := &run{done: make(chan struct{})}
	if tty {
		r.resize = make(chan engine.Winsize, 1)
	}
	rs.current[id] = r
	if ch, ok := rs.started[id]; ok {
		close(ch)
		delete(rs.started, id)
	}
	return r
}

// forget drops r, id's run, some time after its end, so a long-lived
// server does not keep every run it made; the waiters registered before
// its start have long read its status by then.
func (rs *runs) forget(id string, r *run) {
	time.AfterFunc(forgetRunAfter, func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if rs.current[id] == r {
			delete(rs.current, id)
		}
	})
}

const forgetRunAfter = 5 * time.Minute

// nextStart returns a channel closed when the next run of id begins.
func (rs *runs) nextStart(id string) <-chan struct{} {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ch, ok := rs.started[id]
	if !ok {
		ch = make(chan struct{})
		rs.started[id] = ch
	}
	return ch
}

func (rs *runs) get(id string) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.current[id]
}

// wait blocks until id meets cond and returns its exit status. A run this
// server started is followed directly; otherwise the engine's wait.
// started is nextStart(id), taken before the client learnt that its wait
// is in place (docker run sends start as soon as the wait's header comes):
// taken later, a start in between would never wake it.
func (rs *runs) wait(ctx context.Context, e *engine.Engine, id, cond string, started <-chan struct{}) (int, error) {
	c, err := e.Container(id)
	if err != nil {
		return 0, err
	}
	st, err := e.InspectContainer(ctx, id)
	if err != nil {
		return rs.gone(id, cond, err)
	}
	r := rs.get(id)
	if cond == "next-exit" || cond == "removed" {
		// docker run sends wait before start: wait for the start, by
		// this server (started) or by another front end (the status,
		// polled).
	wait:
		for st.State.Status == string(engine.StatusCreated) && (r == nil || r.finished()) {
			select {
			case <-started:
				r = rs.get(id)
				break wait
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if st, err = e.InspectContainer(ctx, id); err != nil {
				return rs.gone(id, cond, err)
			}
			r = rs.get(id)
		}
	}
	var code int
	if r != nil {
		select {
		case <-r.done:
			code, err = r.code, r.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	} else {
		code, err = e.WaitContainer(ctx, c.ID)
	}
	if cond == "removed" {
		for {
			if _, gerr := e.Container(c.ID); errdefs.IsNotFound(gerr) {
				break
			}
			select {
			case <-ctx.Done():
				return code, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return code, err
}

// gone answers a wait whose container could not be read (err): one that
// is not found any more was run, exited and removed already (a fast
// "run --rm"), which is what a removed-wait waits for; its run's status
// if this server ran it.
func (rs *runs) gone(id, cond string, err error) (int, error) {
	if !errdefs.IsNotFound(err) || cond != "removed" {
		return 0, err
	}
	if r := rs.get(id); r != nil && r.finished() {
		return r.code, r.err
	}
	return 0, nil
}

func (r *run) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// hijack takes the connection over for a raw stream, answering 101 UPGRADED
// when the client asked to upgrade (the docker CLI does) and 200 otherwise.
func hijack(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := takeOver(w)
	if err != nil {
		return nil, nil, err
	}
	if err := answerHijacked(conn, rw, r, tty); err != nil {
		return nil, nil, err
	}
	return conn, rw, nil
}

// takeOver is hijack's first half: the connection, nothing answered yet.
func takeOver(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("attach: the connection cannot be taken over")
	}
	return hj.Hijack()
}

// answerHijacked is hijack's second half: the answer, after which the
// client goes on (docker run sends start). It closes conn if it fails.
func answerHijacked(conn net.Conn, rw *bufio.ReadWriter, r *http.Request, tty bool) error {
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	if r.Header.Get("Upgrade") != "" {
		fmt.Fprintf(rw, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	} else {
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", ct)
	}
	if err := rw.Flush(); err != nil {
		conn.Close()
		return err
	}
	return nil
}

// POST /containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1. Before
// start (docker run), the connection is held and start streams the run
// through it; a running container's streams are joined (attachRunning).
func (s *Server) attachContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	st, err := s.eng.InspectContainer(r.Context(), c.ID)
	if err != nil {
		return err
	}
	if st.State.Running {
		return s.attachRunning(w, r, c, st.State.Paused)
	}
	if st.State.Status != string(engine.StatusCreated) && st.State.Status != string(engine.StatusExited) {
		return fmt.Errorf("attach to a %s container is not served by Strata's Engine API yet (use strata logs -f): %w", st.State.Status, errdefs.ErrNotImplemented)
	}
	if !boolParam(r, "stream") {
		return fmt.Errorf("attach without stream=1 (logs of a stopped container) is not served yet; use GET /containers/%s/logs: %w", name, errdefs.ErrNotImplemented)
	}
	conn, rw, err := takeOver(w)
	if err != nil {
		return err
	}
	// Held before the client has its answer: docker run sends start the
	// moment the 101 comes, and a start that found no attachment would
	// run the container detached, its output lost and the client hung.
	a := &attachment{conn: conn, rw: rw, stdin: boolParam(r, "stdin"), stdout: boolParam(r, "stdout"), stderr: boolParam(r, "stderr"), tty: c.Options.Tty, answered: make(chan struct{})}
	s.runs.mu.Lock()
	if old := s.runs.attached[c.ID]; old != nil {
		old.conn.Close()
	}
	s.runs.attached[c.ID] = a
	s.runs.mu.Unlock()
	err = answerHijacked(conn, rw, r, c.Options.Tty)
	close(a.answered)
	if err != nil {
		s.runs.mu.Lock()
		if s.runs.attached[c.ID] == a {
			delete(s.runs.attached, c.ID)
		}
		s.runs.mu.Unlock()
	}
	return nil
}

// startAttached starts the container with a's streams and returns once its
// process runs (or failed to start); the run goes on in the background,
// recording its exit for waiters, and closes the connection at its end.
func (s *Server) startAttached(id string, a *attachment) error {
	<-a.answered // the stream begins after the answer's header
	rn := s.runs.begin(id, a.tty)
	started := make(chan struct{})
	stdout, stderr := streams(a.conn, a.tty, a.stdout, a.stderr)
	ro := engine.RunOptions{Attach: engine.AttachOptions{Stdout: stdout, Stderr: stderr}}
	if rn.resize != nil {
		ro.Attach.Resize = rn.resize
	}
	if a.stdin {
		ro.Attach.Stdin = a.rw
	}
	var once sync.Once
	ro.Started = func(*engine.Container) { once.Do(func() { close(started) }) }
	s.begin() // the run counts as activity for --time
	go func() {
		defer s.end()
		// The run outlives the start request: its context is the
		// server's, not the request's.
		rn.code, rn.err = s.eng.StartAttached(context.Background(), id, ro)
		close(rn.done)
		s.runs.forget(id, rn)
		once.Do(func() { close(started) })
		a.conn.Close()
	}()
	<-started
	if rn.finished() && rn.err != nil {
		if rn.code == 126 || rn.code == 127 {
			// The command cannot run: the request's fault, as dockerd
			// answers (the CLI then exits 126 or 127).
			return fmt.Errorf("%w: %w", rn.err, errdefs.ErrInvalidArgument)
		}
		return rn.err
	}
	return nil
}
