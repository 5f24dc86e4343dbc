package api

import (
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/strata-project/strata/internal/engine"
)

// diskUsageResponse is GET /system/df's answer up to API 1.51, which every
// client Strata serves reads (the docker 28 CLI, docker 20.10, docker-py).
// moby/moby/api keeps only the 1.52 shape (per-type usage objects), so the
// envelope is spelled here; its rows are the module's types.
type diskUsageResponse struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

// GET /system/df: docker system df, from engine.DiskUsage (the numbers
// strata system df prints), volumes with their UsageData.
func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	du, err := s.eng.DiskUsage(ctx)
	if err != nil {
		return err
	}
	out := diskUsageResponse{LayersSize: du.LayersSize, Images: []image.Summary{}, Volumes: []volume.Volume{}, BuildCache: []build.CacheRecord{}}
	byID := map[string]int{}
	for _, u := range du.Images {
		id := u.ID.String()
		i, ok := byID[id]
		if !ok {
			i = len(out.Images)
			byID[id] = i
			out.Images = append(out.Images, image.Summary{ID: id, Created: u.Created.Unix(), Size: u.Size, SharedSize: u.SharedSize,
				Containers: int64(u.Containers), RepoTags: []string{}, RepoDigests: []string{}, Labels: map[string]string{}})
		}
		if u.Repository != "<none>" && u.Repository != "" {
			out.Images[i].RepoTags = append(out.Images[i].RepoTags, u.Repository+":"+u.Tag)
		}
	}
	out.Containers, err = s.containerSummaries(ctx, engine.ContainerListOptions{All: true, Size: true}, func(*container.Summary) bool { return true })
	if err != nil {
		return err
	}
	out.Volumes = append(out.Volumes, du.Volumes.Items...)
	for _, e := range du.BuildCache {
		rec := build.CacheRecord{ID: e.ID, Type: e.Type, Description: e.Description, InUse: e.InUse, Shared: e.Shared, Size: e.Size, CreatedAt: e.Created, UsageCount: e.UsageCount}
		if !e.LastUsed.IsZero() {
			last := e.LastUsed
			rec.LastUsedAt = &last
		}
		out.BuildCache = append(out.BuildCache, rec)
	}
	return writeJSON(w, http.StatusOK, out)
}
