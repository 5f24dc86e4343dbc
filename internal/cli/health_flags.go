package cli

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// healthFlags are run and create's --health-* and --no-healthcheck.
type healthFlags struct {
	cmd                        string
	interval, timeout          time.Duration
	startPeriod, startInterval time.Duration
	retries                    int
	none                       bool
}

func addHealthFlags(fs *pflag.FlagSet, f *healthFlags) {
	fs.StringVar(&f.cmd, "health-cmd", "", "command to run to check health (by /bin/sh -c in the container)")
	fs.DurationVar(&f.interval, "health-interval", 0, "time between checks (ms|s|m|h) (default 30s)")
	fs.DurationVar(&f.timeout, "health-timeout", 0, "maximum time a check may take (ms|s|m|h) (default 30s)")
	fs.DurationVar(&f.startPeriod, "health-start-period", 0, "start period during which failures do not count (ms|s|m|h) (default 0s)")
	fs.DurationVar(&f.startInterval, "health-start-interval", 0, "time between checks during the start period (ms|s|m|h) (default 5s)")
	fs.IntVar(&f.retries, "health-retries", 0, "consecutive failures needed to report unhealthy (default 3)")
	fs.BoolVar(&f.none, "no-healthcheck", false, "disable any container-specified HEALTHCHECK")
}

// healthcheck is the flags' healthcheck, nil when none is given (the
// image's then applies); the engine merges it over the image's.
func (f *healthFlags) healthcheck(fs *pflag.FlagSet) (*engine.Healthcheck, error) {
	set := false
	for _, n := range []string{"health-cmd", "health-interval", "health-timeout", "health-start-period", "health-start-interval", "health-retries"} {
		set = set || fs.Changed(n)
	}
	if f.none {
		if set {
			return nil, fmt.Errorf("--no-healthcheck conflicts with --health-* options: %w", errdefs.ErrInvalidArgument)
		}
		return &engine.Healthcheck{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	h := &engine.Healthcheck{Interval: f.interval, Timeout: f.timeout, StartPeriod: f.startPeriod, StartInterval: f.startInterval, Retries: f.retries}
	if f.cmd != "" {
		h.Test = []string{"CMD-SHELL", f.cmd}
	}
	return h, nil
}
