package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/volume"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// The volume endpoints: list, create, inspect, remove, prune, over the
// engine's volume verbs.

// GET /volumes?filters=...
func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	vols, err := s.eng.ListVolumes(r.Context(), engine.VolumeFilters(f))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, volume.ListResponse{Volumes: vols, Warnings: []string{}})
}

// POST /volumes/create: an existing volume of that name is answered as
// made (docker's create is idempotent).
func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if req.ClusterVolumeSpec != nil {
		return fmt.Errorf("ClusterVolumeSpec: Strata has no swarm cluster volumes: %w", errdefs.ErrInvalidArgument)
	}
	opts := req.DriverOpts
	if len(opts) == 0 {
		opts = nil
	}
	v, err := s.eng.CreateVolume(r.Context(), engine.VolumeCreateOptions{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: opts})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) inspectVolume(w http.ResponseWriter, r *http.Request, name string) error {
	v, err := s.eng.InspectVolume(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// DELETE /volumes/{name}?force=1: 409 while a container uses it.
func (s *Server) removeVolume(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.eng.RemoveVolume(r.Context(), name, boolParam(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /volumes/prune?filters=...: anonymous volumes only, unless the
// filter all=true, from API 1.42 on (docker 23); older clients prune every
// unused volume, as the daemons they were made for did.
func (s *Server) pruneVolumes(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	all := compareVersions(requestVersion(r), "1.42") < 0
	names, freed, err := s.eng.PruneVolumes(r.Context(), engine.VolumePruneOptions{All: all, Filters: engine.VolumeFilters(f)})
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, http.StatusOK, volume.PruneReport{VolumesDeleted: names, SpaceReclaimed: uint64(freed)})
}

// volumeRoute routes /volumes/{name}.
func (s *Server) volumeRoute(method, path string) handler {
	name, ok := strings.CutPrefix(path, "/volumes/")
	if !ok || name == "" || name == "create" || name == "prune" || strings.Contains(name, "/") {
		return nil
	}
	switch method {
	case "GET":
		return withName(name, s.inspectVolume)
	case "DELETE":
		return withName(name, s.removeVolume)
	}
	return nil
}
