package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// attachRunning serves docker attach to a running container: the hijacked
// connection carries its output from now on (docker's multiplexed stream,
// raw with a terminal) and, with stdin=1, feeds its stdin, until the
// container exits, the detach keys (detachKeys=, docker's ctrl-p,ctrl-q by
// default) are typed, or the client goes; in the last two cases the
// container runs on, as with dockerd.
func (s *Server) attachRunning(w http.ResponseWriter, r *http.Request, c *engine.Container, paused bool) error {
	if paused {
		return fmt.Errorf("You cannot attach to a paused container, unpause it first: %w", errdefs.ErrConflict)
	}
	if boolParam(r, "logs") {
		return fmt.Errorf("attach with logs=1 to a running container is not served yet: read GET /containers/%s/logs, then attach without logs: %w", c.Name, errdefs.ErrNotImplemented)
	}
	if !boolParam(r, "stream") {
		return fmt.Errorf("attach without stream=1 to a running container returns nothing: %w", errdefs.ErrInvalidArgument)
	}
	stdin := boolParam(r, "stdin") && c.Options.OpenStdin
	var keys []byte
	if stdin {
		var err error
		if keys, err = engine.ParseDetachKeys(r.URL.Query().Get("detachKeys")); err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	conn, rw, err := hijack(w, r, c.Options.Tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.begin() // an attached client counts as activity for --time
	defer s.end()
	// Not the request's context (net/http cancels it when the client
	// half-closes, as docker attach does at once without stdin, and at
	// the end of its stdin otherwise): the attach ends when the client is
	// gone for good, which the first write that fails tells (a client
	// gone from a silent container is noticed at its next output).
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	stdout, stderr := streams(conn, c.Options.Tty, boolParam(r, "stdout"), boolParam(r, "stderr"))
	o := engine.AttachOptions{Stdout: stdout, Stderr: stderr, DetachKeys: keys, OutputClosed: func(error) { cancel() }}
	if stdin {
		o.Stdin = rw
	}
	_, err = s.eng.AttachContainer(ctx, c.ID, o)
	if err != nil && !errors.Is(err, engine.ErrDetached) && ctx.Err() == nil {
		fmt.Fprintf(stderr, "Error: %s\n", errdefs.Message(err))
	}
	return nil
}
