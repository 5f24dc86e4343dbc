package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// GET /events?since=&until=&filters=: the engine's events as dockerd
// streams them, one JSON message a line, flushed as each is written.
// Without until the stream follows the journal until the client goes
// away; with one, it ends then (at once for a past one).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	opts := engine.EventsOptions{Follow: true, Filter: engine.EventFilter(f)}
	now := time.Now()
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &opts.Since}, {"until", &opts.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := engine.ParseLogTime(v, now)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", p.name, errdefs.Message(err), errdefs.ErrInvalidArgument)
			}
			*p.dst = t
		}
	}
	if err := opts.Filter.Validate(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		// The headers now: a client waits for them before it reads on.
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	// Ends when the client goes (the request's context), at until, or
	// when a write fails. The 200 is out: an error has no one to go to.
	_ = s.eng.Events(r.Context(), opts, func(m engine.EventMessage) error {
		if err := enc.Encode(m); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	return nil
}
