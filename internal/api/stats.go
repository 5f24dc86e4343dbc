package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/strata-project/strata/internal/engine"
)

// statsInterval is how far apart two samples are, for the CPU % a client
// computes from their difference (dockerd samples once a second).
const statsInterval = time.Second

// sample reads one container's counters.
func (s *Server) sample(r *http.Request, id string) (engine.ContainerStats, error) {
	rows, err := s.eng.ContainerStats(r.Context(), []string{id}, true)
	if err != nil {
		return engine.ContainerStats{}, err
	}
	return rows[0], nil
}

func cpuStats(st engine.ContainerStats) container.CPUStats {
	return container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: st.CPUUsage}, SystemUsage: st.SystemUsage, OnlineCPUs: uint32(st.OnlineCPUs)}
}

// statsResponse is docker's shape of one sample and the one before it.
func statsResponse(cur, prev engine.ContainerStats) container.StatsResponse {
	return container.StatsResponse{
		ID: cur.ID, Name: "/" + cur.Name, OSType: "linux", Read: cur.Read, PreRead: prev.Read,
		CPUStats: cpuStats(cur), PreCPUStats: cpuStats(prev),
		MemoryStats: container.MemoryStats{Usage: cur.MemUsage, Limit: cur.MemLimit},
		PidsStats:   container.PidsStats{Current: cur.Pids},
		Networks:    map[string]container.NetworkStats{"eth0": {RxBytes: cur.NetRx, TxBytes: cur.NetTx}},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: cur.BlkRead}, {Op: "write", Value: cur.BlkWrite}}},
	}
}

// GET /containers/{name}/stats?stream=1|0&one-shot=1: a sample a second
// while streaming; with stream=0 one answer holding two samples a second
// apart (so the client's CPU % is that second's), or one with one-shot.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.eng.Container(name)
	if err != nil {
		return noSuchContainer(name, err)
	}
	stream := r.URL.Query().Get("stream") == "" || boolParam(r, "stream")
	prev, err := s.sample(r, c.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !stream && boolParam(r, "one-shot") {
		return writeJSON(w, http.StatusOK, statsResponse(prev, engine.ContainerStats{}))
	}
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-t.C:
		}
		cur, err := s.sample(r, c.ID)
		if err != nil {
			return nil // the container is gone: the stream ends
		}
		if err := enc.Encode(statsResponse(cur, prev)); err != nil || !stream {
			return nil
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		prev = cur
	}
}
