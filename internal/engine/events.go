package engine

import (
	"context"

	"github.com/strata-project/strata/internal/events"
)

// The event journal: containers record their own events (package
// container and their monitors), and the volumes they make and mount;
// the image, network and volume verbs record theirs here.

// EventMessage is one event in docker's message shape.
type EventMessage = events.Message

// EventFilter is events' --filter (type, event, container, image, label,
// network, volume, scope).
type EventFilter = events.Filter

// ParseEventFilter reads --filter KEY=VALUE flags.
func ParseEventFilter(args []string) (EventFilter, error) { return events.ParseFilter(args) }

// EventsOptions select and bound the events Events passes on.
type EventsOptions = events.ReadOptions

// Events passes the journal's events that opts select to emit, oldest
// first, following the journal as it grows when opts.Follow (until
// opts.Until, or until ctx is done).
func (e *Engine) Events(ctx context.Context, opts EventsOptions, emit func(EventMessage) error) error {
	if err := opts.Filter.Validate(); err != nil {
		return err
	}
	return e.journal.Read(ctx, opts, emit)
}

// imageEvent records an image event: id is the image's ID (or the
// reference pulled, pushed, loaded or saved, as docker names it), name
// its name.
func (e *Engine) imageEvent(action events.Action, id, name string) {
	attrs := map[string]string{}
	if name != "" {
		attrs["name"] = name
	}
	e.journal.Log(events.ImageType, action, id, attrs)
}

// networkEvent records a network event, with docker's attributes.
func (e *Engine) networkEvent(action events.Action, id, name string, extra map[string]string) {
	attrs := map[string]string{"name": name, "type": "bridge"}
	for k, v := range extra {
		attrs[k] = v
	}
	e.journal.Log(events.NetworkType, action, id, attrs)
}

// connectEvent records a container's connect to or disconnect from a
// network, named as the caller named them.
func (e *Engine) connectEvent(ctx context.Context, action events.Action, netRef, ctr string) {
	m, s, err := e.networks()
	if err != nil {
		return
	}
	n, err := m.Get(netRef)
	if err != nil {
		return
	}
	c, err := s.Get(ctr)
	if err != nil {
		return
	}
	e.networkEvent(action, n.ID, n.Name, map[string]string{"container": c.ID})
}

// volumeEvent records a volume event (create, mount, destroy).
func (e *Engine) volumeEvent(action events.Action, name string, extra map[string]string) {
	attrs := map[string]string{"driver": "local"}
	for k, v := range extra {
		attrs[k] = v
	}
	e.journal.Log(events.VolumeType, action, name, attrs)
}
