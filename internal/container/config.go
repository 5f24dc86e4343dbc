package container

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// mergeConfig is the container's config as docker keeps it: the image's,
// with create's labels over the image's, its --expose ports added and its
// --stop-signal in place of the image's STOPSIGNAL. The image's maps are
// copied, never changed.
func mergeConfig(opts CreateOptions) (ocispec.ImageConfig, error) {
	cfg := opts.Config
	if opts.StopSignal != "" {
		if _, err := ParseSignal(opts.StopSignal); err != nil {
			return cfg, fmt.Errorf("invalid --stop-signal %q: want a signal name (SIGTERM, TERM) or number: %w", opts.StopSignal, errdefs.ErrInvalidArgument)
		}
		cfg.StopSignal = opts.StopSignal
	}
	if err := checkHealthcheck(opts.Healthcheck); err != nil {
		return cfg, err
	}
	if err := opts.LogConfig.Check(); err != nil {
		return cfg, err
	}
	if opts.StopTimeout != nil && *opts.StopTimeout < -1 {
		return cfg, fmt.Errorf("invalid --stop-timeout %d: want seconds, or -1 to wait forever: %w", *opts.StopTimeout, errdefs.ErrInvalidArgument)
	}
	if len(opts.Labels) > 0 {
		labels := maps.Clone(cfg.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, opts.Labels)
		cfg.Labels = labels
	}
	if len(opts.Expose) > 0 {
		exposed := maps.Clone(cfg.ExposedPorts)
		if exposed == nil {
			exposed = map[string]struct{}{}
		}
		for _, e := range opts.Expose {
			ports, err := ParseExpose(e)
			if err != nil {
				return cfg, err
			}
			for _, p := range ports {
				exposed[p] = struct{}{}
			}
		}
		cfg.ExposedPorts = exposed
	}
	return cfg, nil
}

// ParseExpose reads --expose as docker does: PORT, PORT/PROTO or a range
// FIRST-LAST[/PROTO] (tcp unless said), and returns the ExposedPorts keys
// ("80/tcp").
func ParseExpose(v string) ([]string, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid --expose %q: %s: want PORT[-PORT][/tcp|/udp|/sctp]: %w", v, why, errdefs.ErrInvalidArgument)
	}
	ports, proto, hasProto := strings.Cut(v, "/")
	if !hasProto {
		proto = "tcp"
	}
	switch proto = strings.ToLower(proto); proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, bad("unknown protocol " + strconv.Quote(proto))
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	if !isRange {
		hi = lo
	}
	first, err1 := strconv.ParseUint(lo, 10, 16)
	last, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || first == 0 {
		return nil, bad("not a port number from 1 to 65535")
	}
	if last < first {
		return nil, bad("the range ends before it starts")
	}
	out := make([]string, 0, last-first+1)
	for p := first; p <= last; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// ParseLabels reads --label-file files, then --label values, into a map,
// as docker does: KEY=VALUE, or KEY alone for an empty value; in a file,
// blank lines and lines starting with # are skipped. A key may not be
// empty.
func ParseLabels(files, flags []string) (map[string]string, error) {
	out := map[string]string{}
	add := func(v, where string) error {
		k, val, _ := strings.Cut(v, "=")
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("%sinvalid label %q: want KEY=VALUE or KEY: %w", where, v, errdefs.ErrInvalidArgument)
		}
		out[k] = val
		return nil
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("label file: %w", err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			line = strings.TrimRight(strings.TrimLeft(line, " \t"), "\r")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := add(line, fmt.Sprintf("%s:%d: ", name, n+1)); err != nil {
				return nil, err
			}
		}
	}
	for _, v := range flags {
		if err := add(v, ""); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// checkHealthcheck refuses what docker's daemon refuses: a negative or
// sub-millisecond duration, negative retries, a test that is not NONE,
// CMD or CMD-SHELL.
func checkHealthcheck(h *runtime.Healthcheck) error {
	if h == nil {
		return nil
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--health-interval", h.Interval}, {"--health-timeout", h.Timeout}, {"--health-start-period", h.StartPeriod}, {"--health-start-interval", h.StartInterval}} {
		if d.v < 0 || d.v > 0 && d.v < time.Millisecond {
			return fmt.Errorf("invalid %s %v: want 0 (the default) or at least 1ms: %w", d.flag, d.v, errdefs.ErrInvalidArgument)
		}
	}
	if h.Retries < 0 {
		return fmt.Errorf("invalid --health-retries %d: want 0 (the default, 3) or more: %w", h.Retries, errdefs.ErrInvalidArgument)
	}
	if len(h.Test) > 0 {
		switch h.Test[0] {
		case "NONE", "CMD", "CMD-SHELL":
		default:
			return fmt.Errorf("invalid healthcheck test %q: want NONE, CMD or CMD-SHELL first: %w", h.Test, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
