package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/proc"
)

// Status is a container's process state as its monitor records it, written
// atomically (temp file + rename) into StatusFile.
type Status struct {
	MonitorPid int `json:"monitorPid"`
	// MonitorStart is the monitor's start time (/proc/PID/stat's
	// starttime), so that a reused pid is not taken for it.
	MonitorStart uint64    `json:"monitorStart,omitempty"`
	Pid          int       `json:"pid"`
	Running      bool      `json:"running"`
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt"`
	ExitCode     int       `json:"exitCode"`
	// OOMKilled says the container's cgroup ran out of memory while it
	// ran (oom.go).
	OOMKilled bool          `json:"oomKilled,omitempty"`
	Error     string        `json:"error,omitempty"`
	Ports     []PortMapping `json:"ports,omitempty"`
	// StartFailed says the process never ran: Error says why and
	// ExitCode is docker run's code for it (125, 126 or 127).
	StartFailed bool `json:"startFailed,omitempty"`
	// MonitorLost is set by Probe, never stored: the monitor died, so the
	// status comes from runc and the exit status is unknown (255).
	MonitorLost bool `json:"-"`
	// Settled says a command other than the monitor recorded this exit,
	// the monitor having died: what the monitor would have done after it
	// (remove a --rm container) is left to the commands that read it.
	Settled bool `json:"settled,omitempty"`
	// Restarting says the process exited and the monitor waits to start
	// it again (its restart policy; restart.go); RestartCount is how many
	// times this monitor has done so.
	Restarting   bool `json:"restarting,omitempty"`
	RestartCount int  `json:"restartCount,omitempty"`
}

// StartError is a container process that could not start; ExitCode is
// docker run's code for it (125, 126 or 127).
type StartError struct {
	ExitCode int
	Msg      string
}

func (e *StartError) Error() string { return e.Msg }

// ReadStatus reads the status the monitor recorded in dir;
// errdefs.ErrNotFound if it never ran.
func ReadStatus(dir string) (*Status, error) {
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if errors.Is(err, os.ErrNotExist) || err == nil && len(b) == 0 {
		// Empty: an unsynced status a crash cut short.
		return nil, fmt.Errorf("status of %s: %w", filepath.Base(dir), errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("status of %s: %w", filepath.Base(dir), err)
	}
	return &s, nil
}

// Probe is ReadStatus checked against the processes: when the status says
// running but the monitor is gone (killed), runc is asked. A container
// runc still runs stays Running; one it does not is reported exited with
// status 255 and FinishedAt now. Nothing is written.
func Probe(ctx context.Context, r *Runc, id, dir string) (*Status, error) {
	s, err := ReadStatus(dir)
	if err == nil && s.Restarting && !MonitorAlive(s, dir) {
		// The monitor died waiting to restart: nothing will.
		s.Restarting, s.MonitorLost = false, true
		return s, nil
	}
	if err != nil || !s.Running || MonitorAlive(s, dir) {
		return s, err
	}
	// Read again: the monitor may have finished between the two looks.
	if s2, err := ReadStatus(dir); err == nil && !s2.Running {
		return s2, nil
	}
	s.MonitorLost = true
	st, err := r.State(ctx, id)
	if err == nil && st.Status.Live() {
		return s, nil
	}
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	s.Running = false
	s.ExitCode = 255
	s.FinishedAt = time.Now()
	s.Error = "the container's monitor died: its exit status is unknown"
	return s, nil
}

// MonitorAlive reports whether the monitor that wrote s still runs: its
// pid is alive, not a zombie, and started when s says (or, in a status
// without the start time, has dir on its command line), so that a reused
// pid is not taken for it.
func MonitorAlive(s *Status, dir string) bool {
	pid := s.MonitorPid
	if pid <= 0 {
		return false
	}
	if s.MonitorStart != 0 {
		start, zombie, err := proc.Start(pid)
		return err == nil && !zombie && start == s.MonitorStart
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if !proc.Alive(pid) {
		return false
	}
	for _, a := range strings.Split(string(b), "\x00") {
		if a == dir {
			return true
		}
	}
	return false
}

// writeStatus writes s into dir atomically.
func writeStatus(dir string, s *Status) error {
	return WriteFileAtomic(filepath.Join(dir, StatusFile), s)
}

// writeStatusNoSync is writeStatus without the fsync, for a status whose
// loss in a crash costs nothing.
func writeStatusNoSync(dir string, s *Status) error {
	return writeFileAtomic(filepath.Join(dir, StatusFile), s, false)
}

// WriteFileAtomic writes v as JSON to path through a temp file in the same
// dir, fsynced and renamed over path.
func WriteFileAtomic(path string, v any) error { return writeFileAtomic(path, v, true) }

// WriteFileAtomicNoSync is WriteFileAtomic without the fsync: a crash may
// leave the old file or an empty one, never a torn one.
func WriteFileAtomicNoSync(path string, v any) error { return writeFileAtomic(path, v, false) }

func writeFileAtomic(path string, v any, sync bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
