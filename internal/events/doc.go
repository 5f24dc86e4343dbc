// Package events is Strata's event journal: what docker's daemon keeps in
// memory and streams to "docker events", kept here in a file under the
// store, since there is no daemon. Every strata process that changes a
// container, an image, a network or a volume appends one line (Journal.
// Append); "strata events" and the Engine API's GET /events read it
// (Journal.Read) and, without an end, follow it as it grows.
//
// The lines are docker's event messages in JSON (Message: Type, Action,
// Actor{ID, Attributes}, scope, time, timeNano, and the legacy status, id
// and from), one per line, appended with one write(2) each to a file
// opened O_APPEND, so appends of concurrent processes never interleave.
// Nothing is synced: an event lost in a crash costs nothing. A kill -9
// can at worst leave a torn last line; the next append begins with a
// newline if the file does not end with one, and readers skip any line
// that does not parse, so a torn line is one lost event, never two.
//
// The journal is bounded: when the file would pass MaxSize it is renamed
// to events.log.1 (replacing the one before) and a new one begun, under a
// lock only writers take. Readers read events.log.1 and then events.log,
// and a follower notices the rename (the inode at the path changes) and
// moves to the new file once it has read the old one to its end. A
// follower waits with inotify on the directory, never with a timer.
//
// It knows nothing of containers or images: the callers (package
// container, runtime's monitor, the engine) say what happened.
//
//	<root>/events/
//	├── lock           flock taken by writers around the rotation check and append
//	├── events.log     the current journal
//	└── events.log.1   the one before, once the current one reached MaxSize
package events
