package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// GET /containers/{name}/top?ps_args=aux: docker top, the host's ps cut to
// the container's processes (engine.TopContainer).
func (s *Server) topContainer(w http.ResponseWriter, r *http.Request, name string) error {
	titles, procs, err := s.eng.TopContainer(r.Context(), name, strings.Fields(r.URL.Query().Get("ps_args")))
	if err != nil {
		return noSuchContainer(name, err)
	}
	if procs == nil {
		procs = [][]string{}
	}
	return writeJSON(w, http.StatusOK, container.TopResponse{Titles: titles, Processes: procs})
}

// POST /containers/{name}/rename?name=NEW
func (s *Server) renameContainer(w http.ResponseWriter, r *http.Request, name string) error {
	to := strings.TrimPrefix(r.URL.Query().Get("name"), "/")
	if to == "" {
		return fmt.Errorf("rename: the new name is required (?name=NEW): %w", errdefs.ErrInvalidArgument)
	}
	if err := s.eng.RenameContainer(r.Context(), name, to); err != nil {
		return noSuchContainer(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// The UpdateConfig fields updateContainer (update.go) applies; another
// sent with a value is refused naming it.
var supportedUpdate = set("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpusetCpus", "PidsLimit", "RestartPolicy")

// POST /containers/prune: every container not running or paused that
// passes the filters (until, label, label!: the engine's reading of them,
// the CLI's too).
func (s *Server) pruneContainers(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	ids, reclaimed, err := s.eng.PruneContainers(r.Context(), engine.Filters(f))
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	return writeJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: ids, SpaceReclaimed: uint64(reclaimed)})
}

// POST /containers/{name}/resize?h=ROWS&w=COLS: the terminal of a run this
// server attached (docker run -it) takes the new size. A container started
// elsewhere keeps its size (its terminal is its own client's).
func (s *Server) resizeContainer(w http.ResponseWriter, r *http.Request, name string) error {
	size, err := winsize(r)
	if err != nil {
		return err
	}
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	if rn := s.runs.get(c.ID); rn != nil && rn.resize != nil {
		select {
		case rn.resize <- size:
		default: // a resize is pending; the client sends the last again
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// winsize reads ?h=&w= of a resize request.
func winsize(r *http.Request) (engine.Winsize, error) {
	q := r.URL.Query()
	h, err1 := strconv.ParseUint(q.Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(q.Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return engine.Winsize{}, fmt.Errorf("resize: h=%q w=%q: want the terminal's rows and columns (0-65535): %w", q.Get("h"), q.Get("w"), errdefs.ErrInvalidArgument)
	}
	return engine.Winsize{Rows: uint16(h), Cols: uint16(wd)}, nil
}
