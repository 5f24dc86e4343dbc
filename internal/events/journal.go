package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

// Message is one event as docker's API sends it: the message of
// github.com/moby/moby/api's events package with the legacy fields
// (status, id, from) that API versions before 1.52 still carry and
// clients still read.
type Message struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	events.Message
}

// Types and actions, docker's names (the moby API's constants).
type (
	Type   = events.Type
	Action = events.Action
)

// MaxSize is the size past which the journal file is rotated.
const MaxSize = 1 << 20

// Files in the journal's directory.
const (
	currentFile = "events.log"
	oldFile     = "events.log.1"
	lockFile    = "lock"
)

// Journal is the event journal in a directory. The zero value and a nil
// *Journal record nothing.
type Journal struct {
	dir string
	max int64
}

// Open returns the journal in dir; nothing is touched until the first
// Append or Read.
func Open(dir string) *Journal { return &Journal{dir: dir, max: MaxSize} }

// Dir is the journal's directory.
func (j *Journal) Dir() string {
	if j == nil {
		return ""
	}
	return j.dir
}

// New is an event of type typ and action on the object id, with its
// attributes, timed now; the legacy fields are filled as dockerd fills
// them (container events carry the image as from, image events only
// status and id).
func New(typ Type, action Action, id string, attrs map[string]string) Message {
	now := time.Now()
	if attrs == nil {
		attrs = map[string]string{}
	}
	m := Message{Message: events.Message{
		Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano(),
	}}
	switch typ {
	case events.ContainerEventType:
		m.Status, m.ID, m.From = string(action), id, attrs["image"]
	case events.ImageEventType:
		m.Status, m.ID = string(action), id
	}
	return m
}

// Log appends New(typ, action, id, attrs). Events are a record of what
// happened, not part of it: a journal that cannot be written does not
// fail the verb, so the error is dropped.
func (j *Journal) Log(typ Type, action Action, id string, attrs map[string]string) {
	_ = j.Append(New(typ, action, id, attrs))
}

// Append writes m as one line at the end of the journal, rotating it
// first if the line would take it past its bound.
func (j *Journal) Append(m Message) error {
	if j == nil || j.dir == "" {
		return nil
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return fmt.Errorf("event journal: %w", err)
	}
	unlock, err := j.lock()
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(j.dir, currentFile)
	if fi, err := os.Stat(path); err == nil && fi.Size()+int64(len(line)) > j.max {
		if err := os.Rename(path, filepath.Join(j.dir, oldFile)); err != nil {
			return fmt.Errorf("event journal: rotate: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("event journal: %w", err)
	}
	defer f.Close()
	// A line torn by a kill -9 has no newline: end it, so this event is
	// not glued to it.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("event journal: %w", err)
	}
	return nil
}

// lock takes the writers' lock, waiting for another writer.
func (j *Journal) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(j.dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event journal: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("event journal: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// The types Strata records.
const (
	ContainerType Type = events.ContainerEventType
	ImageType     Type = events.ImageEventType
	NetworkType   Type = events.NetworkEventType
	VolumeType    Type = events.VolumeEventType
)
