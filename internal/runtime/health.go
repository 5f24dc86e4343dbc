package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Healthcheck is docker's HEALTHCHECK config (an image's, or run's
// --health-* flags merged over it); durations in nanoseconds, as docker
// writes them in image configs and inspect.
type Healthcheck struct {
	// Test is ["NONE"] (no checks), ["CMD", ARGS...] or
	// ["CMD-SHELL", COMMAND] (run by /bin/sh -c).
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// docker's defaults for the fields a Healthcheck leaves zero.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthStartInterval = 5 * time.Second
	defaultHealthRetries       = 3
	// healthLogEntries is how many probe results Health keeps, as docker.
	healthLogEntries = 5
	// healthOutputMax is how much of a probe's output is kept, as docker.
	healthOutputMax = 4096
)

// Enabled reports whether h runs a probe (it is set and not NONE).
func (h *Healthcheck) Enabled() bool {
	return h != nil && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// MergeHealthcheck is the healthcheck a container runs, as docker's daemon
// merges it: run's (flags) where set, field by field, else the image's.
func MergeHealthcheck(flags, image *Healthcheck) *Healthcheck {
	if flags == nil {
		return image
	}
	if image == nil {
		return flags
	}
	h := *flags
	if len(h.Test) == 0 {
		h.Test = image.Test
	}
	if h.Interval == 0 {
		h.Interval = image.Interval
	}
	if h.Timeout == 0 {
		h.Timeout = image.Timeout
	}
	if h.StartPeriod == 0 {
		h.StartPeriod = image.StartPeriod
	}
	if h.StartInterval == 0 {
		h.StartInterval = image.StartInterval
	}
	if h.Retries == 0 {
		h.Retries = image.Retries
	}
	return &h
}

// The health statuses, docker's.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is a container's health as inspect's State.Health shows it,
// kept by its monitor in HealthFile.
type Health struct {
	Status        string      `json:"Status"`
	FailingStreak int         `json:"FailingStreak"`
	Log           []HealthLog `json:"Log"`
}

// HealthLog is one probe's result.
type HealthLog struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// HealthFile is where the monitor keeps Health, beside StatusFile.
const HealthFile = "health.json"

// ReadHealth reads the health the monitor of the container in dir keeps;
// nil when it has none (no healthcheck, or never started).
func ReadHealth(dir string) *Health {
	b, err := os.ReadFile(filepath.Join(dir, HealthFile))
	if err != nil {
		return nil
	}
	var h Health
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return &h
}

// startHealth runs the container's healthcheck, if it has one, until the
// returned stop is called: the status is "starting" until a probe passes
// ("healthy"); Retries failures in a row, not counting those of the start
// period before the first pass, make it "unhealthy". stop marks it
// unhealthy, as docker does when a container stops, and returns once the
// loop has ended.
func (m *monitor) startHealth() (stop func()) {
	hc := m.cfg.Healthcheck
	if !hc.Enabled() {
		_ = os.Remove(m.path(HealthFile))
		return func() {}
	}
	interval := durationOr(hc.Interval, defaultHealthInterval)
	startInterval := durationOr(hc.StartInterval, defaultHealthStartInterval)
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	h := &Health{Status: HealthStarting, Log: []HealthLog{}}
	m.writeHealth(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	started := time.Now()
	// Ends when stop cancels ctx.
	go func() {
		defer close(done)
		for {
			wait := interval
			if h.Status == HealthStarting && time.Since(started) < hc.StartPeriod {
				wait = startInterval
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			res, ok := m.probe(ctx, hc)
			if !ok {
				continue // not running yet (held for an attach), or ending
			}
			switch {
			case res.ExitCode == 0:
				h.FailingStreak = 0
				h.Status = HealthHealthy
			case h.Status == HealthStarting && res.Start.Sub(started) < hc.StartPeriod:
				// A failure in the start period does not count.
			default:
				h.FailingStreak++
				if h.FailingStreak >= retries {
					h.Status = HealthUnhealthy
				}
			}
			h.Log = append(h.Log, res)
			if len(h.Log) > healthLogEntries {
				h.Log = h.Log[len(h.Log)-healthLogEntries:]
			}
			if ctx.Err() == nil {
				m.writeHealth(h)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		h.Status = HealthUnhealthy
		m.writeHealth(h)
	}
}

func (m *monitor) writeHealth(h *Health) {
	if err := WriteFileAtomicNoSync(m.path(HealthFile), h); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "monitor: write health: %v\n", err)
	}
}

// probe runs the healthcheck's command in the running container, as exec
// does (the container's process spec with the test's arguments), and
// returns its result; ok is false when the container is not running.
func (m *monitor) probe(ctx context.Context, hc *Healthcheck) (HealthLog, bool) {
	if st, err := m.cfg.Runc.State(ctx, m.cfg.ID); err != nil || st.Status != RuncRunning {
		return HealthLog{}, false
	}
	var args []string
	switch hc.Test[0] {
	case "CMD":
		args = hc.Test[1:]
	case "CMD-SHELL":
		args = append([]string{"/bin/sh", "-c"}, hc.Test[1:]...)
	}
	res := HealthLog{Start: time.Now().UTC(), ExitCode: -1}
	if len(args) == 0 {
		res.End, res.Output = res.Start, fmt.Sprintf("unknown healthcheck test %q", hc.Test)
		return res, true
	}
	b, err := os.ReadFile(filepath.Join(m.cfg.Bundle, "config.json"))
	var spec specs.Spec
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil || spec.Process == nil {
		res.End, res.Output = time.Now().UTC(), fmt.Sprintf("read the container's process: %v", err)
		return res, true
	}
	proc := *spec.Process
	proc.Args, proc.Terminal = args, false
	timeout := durationOr(hc.Timeout, defaultHealthTimeout)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &cappedBuffer{max: healthOutputMax}
	code, err := m.cfg.Runc.Exec(pctx, m.cfg.ID, proc, ExecOptions{IO: IO{Stdout: out, Stderr: out}})
	res.End = time.Now().UTC()
	switch {
	case pctx.Err() == context.DeadlineExceeded:
		res.Output = fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
	case err != nil:
		res.Output = err.Error()
	default:
		res.ExitCode, res.Output = code, out.String()
	}
	return res, ctx.Err() == nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}
