package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// POST /containers/{name}/update: the restart policy and the resource
// limits, as docker update sends them (the CLI sends every resource field,
// zero where not given: only the non-zero ones change a limit).
func (s *Server) updateContainer(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for k, v := range raw {
		if !supportedUpdate[k] && !zero(v) {
			return fmt.Errorf("update: %s is not supported by Strata: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	var req container.UpdateConfig
	if err := json.Unmarshal(body, &req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	res := req.Resources
	edit := func(l *engine.Resources) error {
		set := func(dst *int64, v int64) {
			if v != 0 {
				*dst = v
			}
		}
		set(&l.Memory, res.Memory)
		set(&l.MemorySwap, res.MemorySwap)
		set(&l.MemoryReservation, res.MemoryReservation)
		set(&l.NanoCPUs, res.NanoCPUs)
		set(&l.CPUShares, res.CPUShares)
		if res.CpusetCpus != "" {
			l.CpusetCpus = res.CpusetCpus
		}
		if res.PidsLimit != nil {
			l.PidsLimit = *res.PidsLimit
		}
		return nil
	}
	if res.Memory != 0 || res.MemorySwap != 0 || res.MemoryReservation != 0 || res.NanoCPUs != 0 || res.CPUShares != 0 || res.CpusetCpus != "" || res.PidsLimit != nil {
		if err := s.eng.UpdateContainer(r.Context(), c.ID, edit); err != nil {
			return err
		}
	}
	if p := req.RestartPolicy; p.Name != "" {
		if err := s.eng.SetRestartPolicy(r.Context(), c.ID, engine.RestartPolicy{Name: string(p.Name), MaximumRetryCount: p.MaximumRetryCount}); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: []string{}})
}
