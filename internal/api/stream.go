package api

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/progress"
)

// message is one line of docker's JSON message stream: jsonstream.Message
// plus the flat "error" string that docker-py and older clients read.
type message struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// stream writes docker's JSON message stream (pull, push, load): one JSON
// object a line, flushed as it is written, so clients draw progress live.
// It is safe for concurrent use: the engine reports from several
// goroutines.
type stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{w: w, enc: json.NewEncoder(w)}
}

// start sends the 200 and the content type once, before the first line.
func (s *stream) start() {
	if !s.started {
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
}

func (s *stream) write(m message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start()
	s.enc.Encode(m)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// reporter turns the engine's progress events into stream lines: a layer's
// state with its byte counts, or a message line ("Digest: sha256:…").
func (s *stream) reporter() progress.Reporter {
	return func(ev progress.Event) {
		m := message{Message: jsonstream.Message{ID: ev.ID, Status: ev.Action}}
		if ev.Current > 0 || ev.Total > 0 {
			m.Progress = &jsonstream.Progress{Current: ev.Current, Total: ev.Total}
		}
		s.write(m)
	}
}

// stdout writes a {"stream": text} line, as the legacy builder and load do.
func (s *stream) stdout(text string) {
	s.write(message{Message: jsonstream.Message{Stream: text}})
}

// fail ends a stream with an error. Once the 200 is sent the status cannot
// change, so the error travels in the stream as docker's does; before that
// it is an ordinary error response.
func (s *stream) fail(err error) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return err
	}
	msg := errdefs.Message(err)
	s.write(message{Message: jsonstream.Message{Error: &jsonstream.Error{Message: msg}}, ErrorMessage: msg})
	return nil
}
