package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// execInstance is one exec the client created and may start once. Docker
// keeps these in its daemon; the service keeps them in memory until they
// end, as a command's own state: nothing of the container's.
type execInstance struct {
	id, container string
	req           container.ExecCreateRequest

	mu      sync.Mutex
	started bool
	running bool
	code    *int
	resize  chan engine.Winsize // a tty exec's window changes, while it runs
}

// execKeep is how long a finished exec can still be inspected.
const execKeep = 5 * time.Minute

// execs are the exec instances of this server.
type execs struct {
	mu sync.Mutex
	m  map[string]*execInstance
}

func (x *execs) get(id string) (*execInstance, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if in, ok := x.m[id]; ok {
		return in, nil
	}
	return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
}

// POST /containers/{name}/exec
func (s *Server) createExec(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	var req container.ExecCreateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(req.Cmd) == 0 {
		return fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	if req.Privileged {
		return fmt.Errorf("Privileged exec is not supported by Strata: %w", errdefs.ErrInvalidArgument)
	}
	st, err := s.eng.InspectContainer(r.Context(), c.ID)
	if err != nil {
		return err
	}
	if st.State.Status != string(engine.StatusRunning) {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	b := make([]byte, 32)
	rand.Read(b)
	in := &execInstance{id: hex.EncodeToString(b), container: c.ID, req: req}
	s.execs.mu.Lock()
	s.execs.m[in.id] = in
	s.execs.mu.Unlock()
	return writeJSON(w, http.StatusCreated, container.CreateResponse{ID: in.id})
}

// POST /exec/{id}/start: hijacked unless detached; the exec runs until its
// command ends, then the connection closes.
func (s *Server) startExec(w http.ResponseWriter, r *http.Request, id string) error {
	in, err := s.execs.get(id)
	if err != nil {
		return err
	}
	var req container.ExecStartRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil && err != io.EOF {
			return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	in.mu.Lock()
	if in.started {
		in.mu.Unlock()
		return fmt.Errorf("exec %s has already been started: %w", id, errdefs.ErrConflict)
	}
	in.started, in.running = true, true
	in.mu.Unlock()
	tty := in.req.Tty || req.Tty
	opts := engine.ExecOptions{Cmd: in.req.Cmd, Env: in.req.Env, WorkingDir: in.req.WorkingDir, User: in.req.User, Tty: tty}
	if cs := in.req.ConsoleSize; cs != nil {
		opts.ConsoleSize = &engine.Winsize{Rows: uint16(cs[0]), Cols: uint16(cs[1])}
	}
	if tty {
		in.mu.Lock()
		in.resize = make(chan engine.Winsize, 1)
		opts.Resize = in.resize
		in.mu.Unlock()
	}
	finish := func(code int) {
		in.mu.Lock()
		in.running, in.code = false, &code
		in.mu.Unlock()
		// Clients read the exit code right after the stream ends
		// (docker exec's GET /exec/{id}/json); then it is forgotten.
		time.AfterFunc(execKeep, func() {
			s.execs.mu.Lock()
			delete(s.execs.m, in.id)
			s.execs.mu.Unlock()
		})
	}
	if req.Detach {
		go func() {
			s.begin()
			defer s.end()
			code, _ := s.eng.ExecContainer(context.Background(), in.container, opts, engine.IO{Stdout: io.Discard, Stderr: io.Discard})
			finish(code)
		}()
		return writeJSON(w, http.StatusOK, struct{}{})
	}
	conn, rw, err := hijack(w, r, tty)
	if err != nil {
		finish(126)
		return err
	}
	defer conn.Close()
	stdout, stderr := streams(conn, tty, in.req.AttachStdout, in.req.AttachStderr)
	stdio := engine.IO{Stdout: stdout, Stderr: stderr}
	if in.req.AttachStdin {
		stdio.Stdin = rw
	}
	// Not the request's context: net/http cancels it when the client
	// half-closes the hijacked connection (docker exec -i does at the end
	// of its stdin), which would kill the command. A client gone for good
	// ends the command through its closed stdin and streams, as dockerd's.
	code, err := s.eng.ExecContainer(context.WithoutCancel(r.Context()), in.container, opts, stdio)
	if err != nil && code != 126 && code != 127 {
		fmt.Fprintf(stderr, "Error: %s\n", errdefs.Message(err))
	}
	finish(code)
	return nil
}

// GET /exec/{id}/json
func (s *Server) inspectExec(w http.ResponseWriter, r *http.Request, id string) error {
	in, err := s.execs.get(id)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	entry, args := in.req.Cmd[0], in.req.Cmd[1:]
	return writeJSON(w, http.StatusOK, container.ExecInspectResponse{
		ID: in.id, Running: in.running, ExitCode: in.code, ContainerID: in.container,
		OpenStdin: in.req.AttachStdin, OpenStdout: in.req.AttachStdout, OpenStderr: in.req.AttachStderr,
		ProcessConfig: &container.ExecProcessConfig{Tty: in.req.Tty, Entrypoint: entry, Arguments: args, User: in.req.User},
	})
}

// POST /exec/{id}/resize?h=&w=: a running tty exec's terminal takes the
// size; any other exec ignores it, as dockerd's does before start.
func (s *Server) resizeExec(w http.ResponseWriter, r *http.Request, id string) error {
	in, err := s.execs.get(id)
	if err != nil {
		return err
	}
	size, err := winsize(r)
	if err != nil {
		return err
	}
	in.mu.Lock()
	if in.running && in.resize != nil {
		select {
		case in.resize <- size:
		default: // one is pending; the client sends the last size again
		}
	}
	in.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	return nil
}

// execRoute routes /exec/{id}/{verb}.
func (s *Server) execRoute(method, path string) handler {
	rest, ok := strings.CutPrefix(path, "/exec/")
	if !ok {
		return nil
	}
	id, verb, _ := strings.Cut(rest, "/")
	switch {
	case method == "POST" && verb == "start":
		return withName(id, s.startExec)
	case method == "GET" && verb == "json":
		return withName(id, s.inspectExec)
	case method == "POST" && verb == "resize":
		return withName(id, s.resizeExec)
	}
	return nil
}
