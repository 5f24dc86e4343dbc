package container

import "github.com/strata-project/strata/internal/runtime"

// State is where a container is in its life, as docker names it.
type State string

const (
	// StateCreated is a container made and never started (or whose
	// start failed).
	StateCreated State = "created"
	// StateRunning is a container whose process runs.
	StateRunning State = "running"
	// StatePaused is a running container frozen by Pause.
	StatePaused State = "paused"
	// StateRestarting is a container whose process exited and whose
	// monitor waits to start it again (its restart policy).
	StateRestarting State = "restarting"
	// StateExited is a container whose process ran and exited (or whose
	// monitor died, so the exit is known but not its status).
	StateExited State = "exited"
)

// Live reports whether the container has a process (running or paused):
// what rm refuses without -f and container prune keeps.
func (s State) Live() bool {
	return s == StateRunning || s == StatePaused || s == StateRestarting
}

// stateOf is the one reading of a container's process status as a State,
// for ps and inspect alike.
func stateOf(st *runtime.Status, paused bool) State {
	switch {
	case st.Restarting:
		return StateRestarting
	case st.Running && paused:
		return StatePaused
	case st.Running:
		return StateRunning
	case !st.FinishedAt.IsZero() && !st.StartedAt.IsZero() || st.MonitorLost:
		return StateExited
	}
	return StateCreated
}
