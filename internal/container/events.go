package container

import (
	"maps"

	"github.com/strata-project/strata/internal/events"
)

// event records action on c in the event journal, with the attributes
// docker gives a container event: its labels, image and name, and extra.
func (s *Store) event(c *Container, action events.Action, extra map[string]string) {
	if s.ev == nil {
		return
	}
	s.ev.Log(events.ContainerType, action, c.ID, eventAttrs(c, extra))
}

// eventAttrs are c's event attributes (the monitor is handed them too,
// for the events it records).
func eventAttrs(c *Container, extra map[string]string) map[string]string {
	a := maps.Clone(c.Config.Labels)
	if a == nil {
		a = map[string]string{}
	}
	a["image"], a["name"] = c.ImageRef, c.Name
	maps.Copy(a, extra)
	return a
}
