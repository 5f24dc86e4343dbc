package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// GET /containers/{name}/export: the container's filesystem as a tar
// (docker export).
func (s *Server) exportContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	w.Header().Set("Content-Type", "application/x-tar")
	// Once bytes flow the status is sent: a failure cuts the tar short,
	// which clients report as a truncated archive.
	return s.eng.ExportContainer(r.Context(), c.ID, w)
}

// GET /containers/{name}/changes: docker diff, as docker's kinds (0
// modified, 1 added, 2 deleted).
func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request, name string) error {
	changes, err := s.eng.ContainerDiff(r.Context(), name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	out := []container.FilesystemChange{}
	for _, ch := range changes {
		kind := container.ChangeModify
		switch ch.Kind {
		case 'A':
			kind = container.ChangeAdd
		case 'D':
			kind = container.ChangeDelete
		}
		out = append(out, container.FilesystemChange{Kind: kind, Path: ch.Path})
	}
	return writeJSON(w, http.StatusOK, out)
}

// POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=:
// docker commit. The body is a container Config to merge, which Strata
// does not do: one with any field set is refused naming it (the changes
// parameter, Dockerfile instructions, is the way to alter the config).
func (s *Server) commit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	name := q.Get("container")
	if name == "" {
		return fmt.Errorf("commit: container is required: %w", errdefs.ErrInvalidArgument)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(body) > 0 {
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		for k, v := range raw {
			if !zero(v) {
				return fmt.Errorf("commit: Config.%s in the body is not supported by Strata (use changes=, Dockerfile instructions): %w", k, errdefs.ErrInvalidArgument)
			}
		}
	}
	ref := q.Get("repo")
	if tag := q.Get("tag"); ref != "" && tag != "" {
		ref += ":" + tag
	}
	pause := true
	if q.Has("pause") {
		pause = boolParam(r, "pause")
	}
	id, err := s.eng.CommitContainer(r.Context(), name, engine.CommitOptions{
		Ref: ref, Message: q.Get("comment"), Author: q.Get("author"), Changes: q["changes"], Pause: pause,
	})
	if err != nil {
		return noSuchContainer(name, err)
	}
	return writeJSON(w, http.StatusCreated, common.IDResponse{ID: id.String()})
}
