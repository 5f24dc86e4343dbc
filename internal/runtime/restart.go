package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// RestartPolicy is docker's --restart: what the monitor does when the
// container's process exits. The zero value is "no".
type RestartPolicy struct {
	// Name is "no" (or ""), "always", "unless-stopped" or "on-failure".
	Name string `json:"Name"`
	// MaximumRetryCount bounds on-failure's restarts; 0 is no bound.
	MaximumRetryCount int `json:"MaximumRetryCount"`
}

// Restart policy names, as docker spells them.
const (
	RestartNo            = "no"
	RestartAlways        = "always"
	RestartUnlessStopped = "unless-stopped"
	RestartOnFailure     = "on-failure"
)

// ParseRestartPolicy reads --restart: no, always, unless-stopped or
// on-failure[:N].
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil {
			return RestartPolicy{}, fmt.Errorf("invalid restart policy %q: maximum retry count must be an integer: %w", s, errdefs.ErrInvalidArgument)
		}
		p.MaximumRetryCount = n
	}
	if err := p.Validate(); err != nil {
		return RestartPolicy{}, err
	}
	return p, nil
}

// Validate checks p as docker's daemon does.
func (p RestartPolicy) Validate() error {
	switch p.Name {
	case "", RestartNo, RestartAlways, RestartUnlessStopped:
		if p.MaximumRetryCount != 0 {
			return fmt.Errorf("invalid restart policy %q: maximum retry count can only be used with 'on-failure': %w", p.String(), errdefs.ErrInvalidArgument)
		}
	case RestartOnFailure:
		if p.MaximumRetryCount < 0 {
			return fmt.Errorf("invalid restart policy %q: maximum retry count cannot be negative: %w", p.String(), errdefs.ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("invalid restart policy %q: use one of 'no', 'always', 'on-failure[:max-retries]' or 'unless-stopped': %w", p.Name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// IsNone reports whether p never restarts.
func (p RestartPolicy) IsNone() bool { return p.Name == "" || p.Name == RestartNo }

// String is p as --restart takes it.
func (p RestartPolicy) String() string {
	if p.IsNone() {
		return RestartNo
	}
	if p.Name == RestartOnFailure && p.MaximumRetryCount > 0 {
		return fmt.Sprintf("%s:%d", p.Name, p.MaximumRetryCount)
	}
	return p.Name
}

// Docker's restart back-off: the first restart waits 100 ms, each next
// one twice as long, at most a minute; a run that lasted 10 s or more
// starts the series again.
const (
	restartFirstDelay = 100 * time.Millisecond
	restartMaxDelay   = time.Minute
	restartResetAfter = 10 * time.Second
)

// restarter is a monitor's restart state: how many times it restarted the
// container and how long it waits before the next time.
type restarter struct {
	count int
	delay time.Duration
}

// next decides, after a run that lasted ran and exited with code, whether
// p restarts the container and after how long. stopped says the user
// stopped or killed it (which ends every policy for this run of the
// monitor).
func (r *restarter) next(p RestartPolicy, code int, stopped bool, ran time.Duration) (time.Duration, bool) {
	if stopped || p.IsNone() {
		return 0, false
	}
	switch {
	case ran >= restartResetAfter || r.delay == 0:
		r.delay = restartFirstDelay
	default:
		r.delay = min(2*r.delay, restartMaxDelay)
	}
	restart := false
	switch p.Name {
	case RestartAlways, RestartUnlessStopped:
		restart = true
	case RestartOnFailure:
		restart = code != 0 && (p.MaximumRetryCount == 0 || r.count < p.MaximumRetryCount)
	}
	if !restart {
		return 0, false
	}
	r.count++
	return r.delay, true
}

// stoppedFile marks a container its user stopped or killed (strata stop,
// kill, rm -f): its monitor does not restart it, and boot does not start
// an unless-stopped one. A start removes it.
const stoppedFile = "stopped-by-user"

// MarkStopped records that the user stopped the container in dir, before
// it is signalled, and wakes its monitor if it is waiting to restart it,
// so that the monitor ends instead.
func MarkStopped(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, stoppedFile), nil, 0o600); err != nil {
		return fmt.Errorf("mark %s stopped: %w", filepath.Base(dir), err)
	}
	if st, err := ReadStatus(dir); err == nil && st.Restarting && MonitorAlive(st, dir) {
		_ = unix.Kill(st.MonitorPid, restartWakeSignal)
	}
	return nil
}

// ClearStopped forgets MarkStopped: the container is started again.
func ClearStopped(dir string) { _ = os.Remove(filepath.Join(dir, stoppedFile)) }

// StoppedByUser reports whether MarkStopped was called since the last
// start.
func StoppedByUser(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stoppedFile))
	return err == nil
}

// restartWakeSignal wakes a monitor waiting out a restart's back-off to
// look at stoppedFile again (MarkStopped sends it only to a monitor whose
// status says Restarting, which has asked for it).
const restartWakeSignal = unix.SIGUSR1

// SetRestartPolicy changes the policy the monitor in dir applies at the
// container's next exit (update --restart): the monitor reads it back
// from its config at every exit. A container without a monitor config
// (never started) has nothing to change.
func SetRestartPolicy(dir string, p RestartPolicy) error {
	path := filepath.Join(dir, MonitorConfigFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var cfg MonitorConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg.Restart = p
	return WriteFileAtomicNoSync(path, cfg)
}

// restartPolicy is the policy at this exit: the monitor config's as it is
// now (update may have changed it), else the one it started with.
func (m *monitor) restartPolicy() RestartPolicy {
	b, err := os.ReadFile(m.path(MonitorConfigFile))
	if err != nil {
		return m.cfg.Restart
	}
	var cfg MonitorConfig
	if json.Unmarshal(b, &cfg) != nil || cfg.ID != m.cfg.ID {
		return m.cfg.Restart
	}
	return cfg.Restart
}

// waitRestart waits out d before a restart and reports whether to go on:
// false if the user stopped the container meanwhile (MarkStopped wakes
// this wait).
func (m *monitor) waitRestart(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if StoppedByUser(m.dir) {
			return false
		}
		select {
		case <-t.C:
			return !StoppedByUser(m.dir)
		case <-m.wake:
		}
	}
}
