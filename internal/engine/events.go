package engine

import (
	"context"

	"github.com/strata-project/strata/internal/events"
)

// The event journal: containers, networks and volumes record their own
// events (packages container, network and volume, and the containers'
// monitors); the image verbs record theirs here.

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
