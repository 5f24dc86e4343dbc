package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// streamWriter sends each write as a {"stream": text} line, as the legacy
// builder's output reaches docker clients.
type streamWriter struct{ st *stream }

func (w streamWriter) Write(p []byte) (int, error) {
	w.st.stdout(string(p))
	return len(p), nil
}

// jsonMap reads a query parameter holding a JSON object of strings
// (buildargs, labels); buildargs' null values (an ARG named without a
// value on the command line) are left out.
func jsonMap(r *http.Request, name string) (map[string]string, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return nil, nil
	}
	var m map[string]*string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("invalid %s %q: %v: %w", name, raw, err, errdefs.ErrInvalidArgument)
	}
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out, nil
}

// POST /build: the legacy builder's API (the /_ping answer's
// Builder-Version 1 sends the docker CLI here), with Strata's builder
// behind it. The body is the context as a tar (plain or compressed).
func (s *Server) build(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if v := q.Get("version"); v == "2" {
		return fmt.Errorf("BuildKit sessions (version=2) are not served; Strata builds through the classic API (DOCKER_BUILDKIT=0), with its own BuildKit-equivalent builder: %w", errdefs.ErrNotImplemented)
	}
	if p := q.Get("platform"); p != "" && p != "linux/amd64" && p != "linux" && p != "amd64" {
		return fmt.Errorf("platform %q: Strata builds for linux/amd64 only: %w", p, errdefs.ErrInvalidArgument)
	}
	args, err := jsonMap(r, "buildargs")
	if err != nil {
		return err
	}
	labels, err := jsonMap(r, "labels")
	if err != nil {
		return err
	}
	network := q.Get("networkmode")
	if network == "default" {
		network = ""
	}
	st := newStream(w)
	opts := engine.BuildOptions{
		Context: "-", Stdin: r.Body, Dockerfile: q.Get("dockerfile"), Tags: q["t"], BuildArgs: args, Labels: labels,
		Target: q.Get("target"), NoCache: boolParam(r, "nocache"), Pull: boolParam(r, "pull"), Network: network, Squash: boolParam(r, "squash"),
	}
	quiet := boolParam(r, "q")
	if !quiet {
		opts.Progress = streamWriter{st}
	}
	res, err := s.eng.Build(r.Context(), opts)
	if err != nil {
		return st.fail(err)
	}
	aux, _ := json.Marshal(map[string]string{"ID": res.ID.String()})
	raw := json.RawMessage(aux)
	st.write(message{Message: jsonstream.Message{Aux: &raw}})
	if quiet {
		st.stdout(res.ID.String() + "\n")
		return nil
	}
	st.stdout("Successfully built " + strings.TrimPrefix(res.ID.String(), "sha256:")[:12] + "\n")
	for _, t := range q["t"] {
		st.stdout("Successfully tagged " + t + "\n")
	}
	return nil
}
