package container

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/filters"
	"github.com/strata-project/strata/internal/runtime"
)

// Summary is one row of ps.
type Summary struct {
	ID      string
	Name    string
	Image   string
	Command string // quoted as docker ps shows it, untruncated
	Created time.Time
	State   State
	// Status is docker's: "Up 3 seconds", "Exited (0) 5 seconds ago",
	// "Created".
	Status   string
	ExitCode int
	Ports    []runtime.PortMapping
	// SizeRw is the size of the container's own layer (with Size).
	SizeRw int64
	// Health is a running container's health status (starting, healthy,
	// unhealthy), "" without a healthcheck.
	Health string
	// Labels are the container's (the image's and create's).
	Labels map[string]string
}

// ListOptions are ps's -a and -s.
type ListOptions struct {
	All  bool
	Size bool
}

// Details is inspect's data: the record and the process state.
type Details struct {
	Container
	State runtime.Status
	// Status is State read as created, running, paused or exited.
	Status State
	// Dir is the container's directory, LogPath its log.
	Dir     string
	LogPath string
	// Health is what the monitor's healthcheck found, nil without one.
	Health *runtime.Health
}

// Inspect returns a container's record and state.
func (s *Store) Inspect(ctx context.Context, ref string) (*Details, error) {
	c, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	st, err := s.Status(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	d := &Details{Container: *c, State: *st, Status: stateOf(st, st.Running && s.paused(c.ID)), Dir: s.dir(c.ID), LogPath: s.logPath(c.ID)}
	if c.Options.Healthcheck.Enabled() {
		d.Health = runtime.ReadHealth(d.Dir)
		if d.Health != nil && !st.Running {
			// Stopped is unhealthy, as docker's, also in the moment
			// before the monitor writes it so.
			d.Health.Status = runtime.HealthUnhealthy
		}
	}
	return d, nil
}

// List returns the running containers (all with opts.All), newest first.
func (s *Store) List(ctx context.Context, opts ListOptions) ([]Summary, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []Summary
	for _, id := range ids {
		c, err := s.load(id)
		if err != nil {
			continue // removed meanwhile
		}
		st, err := s.Status(ctx, id)
		if errdefs.IsNotFound(err) {
			continue // a --rm container settled and removed just now
		}
		if err != nil {
			return nil, err
		}
		if !st.Running && !st.Restarting && !opts.All {
			continue
		}
		sum := Summary{
			ID: c.ID, Name: c.Name, Image: c.ImageRef, Created: c.Created,
			Command:  quoteCommand(append([]string{c.Path}, c.Args...)),
			ExitCode: st.ExitCode, Labels: c.Config.Labels,
		}
		sum.State = stateOf(st, st.Running && s.paused(id))
		switch sum.State {
		case StateRunning, StatePaused:
			sum.Status = "Up " + HumanDuration(now.Sub(st.StartedAt))
			if sum.State == StatePaused {
				sum.Status += " (Paused)"
			} else if h := s.health(c); h != "" {
				// docker's: "Up 3 seconds (health: starting)", "(healthy)".
				sum.Health = h
				if h == runtime.HealthStarting {
					h = "health: " + h
				}
				sum.Status += " (" + h + ")"
			}
			sum.Ports = st.Ports
		case StateRestarting:
			sum.Status = fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, HumanDuration(now.Sub(st.FinishedAt)))
		case StateExited:
			sum.Status = fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, HumanDuration(now.Sub(st.FinishedAt)))
		default:
			sum.Status = "Created"
		}
		if opts.Size {
			if u, err := s.sn.Usage(ctx, c.SnapshotKey); err == nil {
				sum.SizeRw = u.Size
			}
		}
		out = append(out, sum)
	}
	// Newest first, as docker ps.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	sortByCreated(out)
	return out, nil
}

// health is a running container's health status, "" without a
// healthcheck.
func (s *Store) health(c *Container) string {
	if !c.Options.Healthcheck.Enabled() {
		return ""
	}
	if h := runtime.ReadHealth(s.dir(c.ID)); h != nil {
		return h.Status
	}
	return runtime.HealthStarting
}

func sortByCreated(s []Summary) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Created.After(s[j-1].Created); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func quoteCommand(args []string) string {
	return `"` + strings.Join(args, " ") + `"`
}

// HumanDuration writes d as docker does ("Less than a second", "3
// seconds", "About a minute", "5 minutes", "About an hour", "2 hours", "3
// days", "2 weeks", "4 months", "2 years").
func HumanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Hours() + 0.5); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", int(d.Hours())/24/365)
	}
}

// Prune is container prune: it removes every container that is not
// running or paused and that passes f (until=, label=, label!=, docker's
// container prune filters), and returns the IDs removed and the bytes
// their writable layers took.
func (s *Store) Prune(ctx context.Context, f filters.Filters) ([]string, int64, error) {
	if err := f.Check("container prune", "until", "label", "label!"); err != nil {
		return nil, 0, err
	}
	until, _ := f.Until(time.Now())
	list, err := s.List(ctx, ListOptions{All: true, Size: true})
	if err != nil {
		return nil, 0, err
	}
	var removed []string
	var total int64
	var errs []error
	for _, r := range list {
		if r.State.Live() || !f.Labels(r.Labels) || !until.IsZero() && !r.Created.Before(until) {
			continue
		}
		if err := s.Remove(ctx, r.ID, false); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.ID)
		total += r.SizeRw
	}
	return removed, total, errors.Join(errs...)
}
