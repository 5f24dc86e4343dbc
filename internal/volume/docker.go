package volume

import (
	"maps"
	"regexp"
	"strings"
	"time"

	apivolume "github.com/moby/moby/api/types/volume"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/filters"
)

// The volume verbs' docker side: volumes in docker's JSON shape, ls and
// prune with docker's filters, system df's usage, and the events docker
// records for volumes.

// View is v in docker's shape (CreatedAt, Driver, Labels, Mountpoint,
// Name, Options, Scope), labels and options objects even when empty.
func View(v *Volume) apivolume.Volume {
	labels, opts := v.Labels, v.Options
	if labels == nil {
		labels = map[string]string{}
	}
	if opts == nil {
		opts = map[string]string{}
	}
	return apivolume.Volume{
		CreatedAt: v.CreatedAt.Local().Format(time.RFC3339), Driver: v.Driver, Labels: labels,
		Mountpoint: v.Mountpoint, Name: v.Name, Options: opts, Scope: "local",
	}
}

// Event records a volume event (create, mount, destroy) with docker's
// attributes and extra.
func (s *Store) Event(action events.Action, name string, extra map[string]string) {
	if s.ev == nil {
		return
	}
	a := map[string]string{"driver": Driver}
	maps.Copy(a, extra)
	s.ev.Log(events.VolumeType, action, name, a)
}

// match reports whether v, used by users containers, passes docker's
// volume filters f: every key must match one of its values (label! none).
func match(f filters.Filters, v *Volume, users int) bool {
	return f.Labels(v.Labels) &&
		f.AnyOf("dangling", func(x string) bool { return filters.Bool(x) == (users == 0) }) &&
		f.AnyOf("name", func(x string) bool {
			re, err := regexp.Compile(x)
			return strings.Contains(v.Name, x) || (err == nil && re.MatchString(v.Name))
		}) &&
		f.AnyOf("driver", func(x string) bool { return x == v.Driver })
}

// Select is volume ls: every volume passing f (dangling=, name=, label=,
// driver=), by name, in docker's shape.
func (s *Store) Select(f filters.Filters) ([]apivolume.Volume, error) {
	if err := f.Check("volumes", "dangling", "name", "label", "driver"); err != nil {
		return nil, err
	}
	vs, err := s.List()
	if err != nil {
		return nil, err
	}
	out := []apivolume.Volume{}
	for _, v := range vs {
		if match(f, v, len(s.Users(v.Name))) {
			out = append(out, View(v))
		}
	}
	return out, nil
}

// Prune is volume prune: it removes the unused volumes (anonymous ones
// only, unless all or the all=true filter) that pass f (label=, label!=),
// and returns their names and the space freed.
func (s *Store) Prune(all bool, f filters.Filters) ([]string, int64, error) {
	if err := f.Check("volumes", "label", "label!", "all"); err != nil {
		return nil, 0, err
	}
	for _, v := range f["all"] {
		all = all || filters.Bool(v)
	}
	f = filters.Filters{"label": f["label"], "label!": f["label!"]}
	vs, err := s.List()
	if err != nil {
		return nil, 0, err
	}
	var names []string
	var freed int64
	for _, v := range vs {
		if (!all && !v.Anonymous()) || !match(f, v, 0) || len(s.Users(v.Name)) > 0 {
			continue
		}
		size := s.Size(v.Name)
		if err := s.Remove(v.Name); err != nil {
			if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
				continue // removed or taken meanwhile
			}
			return names, freed, err
		}
		s.Event("destroy", v.Name, nil)
		names = append(names, v.Name)
		freed += size
	}
	return names, freed, nil
}

// Usage is the volumes' part of system df.
type Usage struct {
	Total, Active     int
	Size, Reclaimable int64
	// Items are each volume with UsageData (containers using it, size).
	Items []apivolume.Volume
}

// Usage measures every volume's data.
func (s *Store) Usage() (Usage, error) {
	var u Usage
	vs, err := s.List()
	if err != nil {
		return u, err
	}
	for _, v := range vs {
		refs := len(s.Users(v.Name))
		size := s.Size(v.Name)
		u.Total++
		u.Size += size
		if refs > 0 {
			u.Active++
		} else {
			u.Reclaimable += size
		}
		view := View(v)
		view.UsageData = &apivolume.UsageData{RefCount: int64(refs), Size: size}
		u.Items = append(u.Items, view)
	}
	return u, nil
}
