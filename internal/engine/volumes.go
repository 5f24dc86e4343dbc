package engine

import (
	"context"

	apimount "github.com/moby/moby/api/types/mount"
	apivolume "github.com/moby/moby/api/types/volume"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/filters"
	"github.com/strata-project/strata/internal/volume"
)

// The volume verbs (volume create, ls, inspect, rm, prune) for every front
// end, over the container store's volume store (package volume), which
// knows which containers use a volume and records the volume events.

// Volume is a volume as volume inspect and the Engine API show it
// (docker's JSON: CreatedAt, Driver, Labels, Mountpoint, Name, Options,
// Scope, and UsageData where sizes were asked for).
type Volume = apivolume.Volume

// VolumeCreateOptions are volume create's flags.
type VolumeCreateOptions = volume.CreateOptions

// Mount is one --mount (HostConfig.Mounts), docker's type.
type Mount = apimount.Mount

// ParseMount reads a --mount value as the docker CLI does and checks it
// as its daemon does (volume.ParseMount).
func ParseMount(value string) (Mount, error) { return volume.ParseMount(value) }

func (e *Engine) volumes() (*volume.Store, error) {
	s, err := e.Containers()
	if err != nil {
		return nil, err
	}
	return s.Volumes(), nil
}

// CreateVolume is volume create: a new volume, or the existing one of
// that name (as docker's).
func (e *Engine) CreateVolume(ctx context.Context, o VolumeCreateOptions) (Volume, error) {
	s, err := e.volumes()
	if err != nil {
		return Volume{}, err
	}
	v, made, err := s.Create(o)
	if err != nil {
		return Volume{}, err
	}
	if made {
		s.Event("create", v.Name, nil)
	}
	return volume.View(v), nil
}

// InspectVolume is volume inspect.
func (e *Engine) InspectVolume(ctx context.Context, name string) (Volume, error) {
	v, err := call(e.volumes, func(s *volume.Store) (*volume.Volume, error) { return s.Get(name) })
	if err != nil {
		return Volume{}, err
	}
	return volume.View(v), nil
}

// VolumeFilters are docker's volume filters (ls: dangling, name, label,
// driver; prune: label, label!, all).
type VolumeFilters = Filters

// ListVolumes is volume ls: every volume passing filters (dangling=,
// name=, label=, driver=), by name (volume.Store.Select).
func (e *Engine) ListVolumes(ctx context.Context, f VolumeFilters) ([]Volume, error) {
	return call(e.volumes, func(s *volume.Store) ([]Volume, error) { return s.Select(filters.Filters(f)) })
}

// RemoveVolume is volume rm: refused (errdefs.ErrConflict, naming the
// containers) while a container uses it; force only makes a missing
// volume no error, as docker's -f.
func (e *Engine) RemoveVolume(ctx context.Context, name string, force bool) error {
	s, err := e.volumes()
	if err != nil {
		return err
	}
	err = s.Remove(name)
	if force && errdefs.IsNotFound(err) {
		return nil
	}
	if err == nil {
		s.Event("destroy", name, nil)
	}
	return err
}

// VolumePruneOptions are volume prune's.
type VolumePruneOptions struct {
	// All removes every unused volume, not only anonymous ones (docker
	// 23+'s default).
	All     bool
	Filters VolumeFilters // label=, label!=
}

// PruneVolumes is volume prune: it removes the unused volumes (anonymous
// ones only, unless All) that pass the filters, and returns their names
// and the space freed.
func (e *Engine) PruneVolumes(ctx context.Context, o VolumePruneOptions) ([]string, int64, error) {
	s, err := e.volumes()
	if err != nil {
		return nil, 0, err
	}
	return s.Prune(o.All, filters.Filters(o.Filters))
}

// VolumeUsage is the volumes' part of system df.
type VolumeUsage = volume.Usage

// volumeUsage measures every volume's data.
func (e *Engine) volumeUsage(ctx context.Context) (VolumeUsage, error) {
	return call(e.volumes, (*volume.Store).Usage)
}
