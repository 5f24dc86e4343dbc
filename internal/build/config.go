package build

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/strata-project/strata/internal/runtime"
)

// configInstructions are the instructions that change only the image
// config (WORKDIR also makes its directory, which the builder does after).
var configInstructions = []string{"env", "label", "user", "expose", "volume", "stopsignal", "shell",
	"cmd", "entrypoint", "healthcheck", "onbuild", "workdir"}

// IsConfigInstruction reports whether ApplyConfig interprets cmd (lower
// case): ENV, LABEL, USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, CMD,
// ENTRYPOINT, HEALTHCHECK, ONBUILD, WORKDIR.
func IsConfigInstruction(cmd string) bool { return contains(configInstructions, cmd) }

// ConfigState is what a config-only instruction reads and changes: a
// build stage's, or an image's being committed or imported (--change).
type ConfigState struct {
	Config *Config
	// Args are the ARGs in scope as KEY=VALUE: ${VAR} sees them, then
	// Config.Env (which wins).
	Args []string
	// Escape is the Dockerfile's escape token; 0 means '\'.
	Escape rune
	// CmdSet says a CMD came before (in this stage, or in these
	// changes): ENTRYPOINT keeps the Cmd then, else clears it, as docker.
	CmdSet bool
	// Syntax selects the history texts of the current frontend (a
	// "# syntax=" line) rather than docker 20.10's built-in one.
	Syntax bool
}

// ApplyConfig interprets one config-only instruction (see
// IsConfigInstruction) on st.Config, expanding ${VAR} as a Dockerfile
// does, and returns its history text ("ENV A=1", "EXPOSE map[80/tcp:{}]").
// It is the one interpreter of these instructions: the builder's steps and
// the engine's --change (import, commit) both come here. Its errors carry
// no file or line; the caller places them.
func ApplyConfig(st *ConfigState, in Instruction) (string, error) {
	cfg := st.Config
	env := func() []string { return append(append([]string{}, st.Args...), cfg.Env...) }
	ex := func(w string, env []string) (string, error) {
		esc := st.Escape
		if esc == 0 {
			esc = '\\'
		}
		// A Lex keeps state per word: one each, as stages expand in parallel.
		s, _, err := shell.NewLex(esc).ProcessWord(w, shell.EnvsFromSlice(env))
		return s, err
	}
	one := func() (string, error) { return ex(in.Args[0], env()) }
	switch in.Cmd {
	case "env", "label":
		var parts []string
		for i := 0; i+1 < len(in.Args); i += 2 {
			e := env() // an ENV pair sees the ones before it
			k, err := ex(in.Args[i], e)
			if err != nil {
				return "", err
			}
			v, err := ex(in.Args[i+1], e)
			if err != nil {
				return "", err
			}
			if in.Cmd == "env" {
				cfg.Env = runtime.SetEnv(cfg.Env, k, v)
			} else {
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[k] = v
			}
			parts = append(parts, k+"="+v)
		}
		return strings.ToUpper(in.Cmd) + " " + strings.Join(parts, " "), nil
	case "user":
		v, err := one()
		if err != nil {
			return "", err
		}
		cfg.User = v
		return "USER " + v, nil
	case "stopsignal":
		v, err := one()
		if err != nil {
			return "", err
		}
		cfg.StopSignal = v
		return "STOPSIGNAL " + v, nil
	case "expose":
		var ports []string
		for _, a := range in.Args {
			v, err := ex(a, env())
			if err != nil {
				return "", err
			}
			for _, p := range strings.Fields(v) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = map[string]struct{}{}
				}
				cfg.ExposedPorts[p] = struct{}{}
				ports = append(ports, p)
			}
		}
		if st.Syntax {
			// The current frontend's form: the ports as declared.
			return fmt.Sprintf("EXPOSE %v", ports), nil
		}
		return "EXPOSE map[" + strings.Join(portsMap(ports), " ") + "]", nil
	case "volume":
		var vols []string
		for _, a := range in.Args {
			v, err := ex(a, env())
			if err != nil {
				return "", err
			}
			if v == "" {
				return "", errors.New("VOLUME with an empty path")
			}
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
			vols = append(vols, v)
		}
		return fmt.Sprintf("VOLUME %v", vols), nil
	case "shell":
		cfg.Shell = append([]string(nil), in.Args...)
		return fmt.Sprintf("SHELL %v", in.Args), nil
	case "cmd":
		cfg.Cmd = command(cfg, in)
		st.CmdSet = true
		return "CMD " + jsonList(cfg.Cmd), nil
	case "entrypoint":
		cfg.Entrypoint = command(cfg, in)
		if !st.CmdSet {
			cfg.Cmd = nil
		}
		return "ENTRYPOINT " + jsonList(cfg.Entrypoint), nil
	case "healthcheck":
		hc, err := healthcheck(in)
		if err != nil {
			return "", err
		}
		cfg.Healthcheck = hc
		return "HEALTHCHECK " + healthcheckText(hc, st.Syntax), nil
	case "onbuild":
		t := strings.TrimSpace(in.Original)
		t = strings.TrimSpace(t[len("ONBUILD"):])
		cfg.OnBuild = append(cfg.OnBuild, t)
		return "ONBUILD " + t, nil
	case "workdir":
		v, err := one()
		if err != nil {
			return "", err
		}
		// As BuildKit: an absolute path is kept as written (a trailing
		// slash too), a relative one is joined to the current one.
		if !path.IsAbs(v) {
			v = path.Join("/", cfg.WorkingDir, v)
		}
		cfg.WorkingDir = v
		return "WORKDIR " + v, nil
	}
	return "", fmt.Errorf("%s does not only change the image config", strings.ToUpper(in.Cmd))
}

// command is CMD's or ENTRYPOINT's list: the exec form as written, the
// shell form under the config's SHELL (or /bin/sh -c).
func command(cfg *Config, in Instruction) []string {
	if in.JSON {
		return append([]string{}, in.Args...)
	}
	return append(append([]string{}, cfg.shell()...), strings.Join(in.Args, " "))
}

// shell is the config's SHELL, or /bin/sh -c.
func (c *Config) shell() []string {
	if len(c.Shell) > 0 {
		return c.Shell
	}
	return []string{"/bin/sh", "-c"}
}

func healthcheck(in Instruction) (*Healthcheck, error) {
	typ := strings.ToUpper(in.Args[0])
	if typ == "NONE" {
		return &Healthcheck{Test: []string{"NONE"}}, nil
	}
	hc := &Healthcheck{}
	rest := in.Args[1:]
	if in.JSON {
		hc.Test = append([]string{"CMD"}, rest...)
	} else {
		hc.Test = []string{"CMD-SHELL", strings.Join(rest, " ")}
	}
	for _, f := range in.Flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if k == "retries" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("HEALTHCHECK --retries=%s: want a whole number", v)
			}
			hc.Retries = n
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("HEALTHCHECK --%s=%s: %v", k, v, err)
		}
		switch k {
		case "interval":
			hc.Interval = d
		case "timeout":
			hc.Timeout = d
		case "start-period":
			hc.StartPeriod = d
		case "start-interval":
			hc.StartInterval = d
		}
	}
	return hc, nil
}

// healthcheckText is HEALTHCHECK's history text: docker 20.10's built-in
// frontend quotes its config struct (%q); the current one, which a
// "# syntax=" line selects, prints its fields (%+v).
func healthcheckText(hc *Healthcheck, syntax bool) string {
	if syntax {
		type healthcheckConfig struct {
			Test          []string
			Interval      time.Duration
			Timeout       time.Duration
			StartPeriod   time.Duration
			StartInterval time.Duration
			Retries       int
		}
		return fmt.Sprintf("%+v", healthcheckConfig{hc.Test, hc.Interval, hc.Timeout, hc.StartPeriod, hc.StartInterval, hc.Retries})
	}
	// What fmt's %q makes of docker's HealthConfig pointer: its fields
	// quoted, the retry count as a rune.
	return fmt.Sprintf("&{%q %q %q %q %s}", hc.Test, hc.Interval.String(), hc.Timeout.String(), hc.StartPeriod.String(), strconv.QuoteRune(rune(hc.Retries)))
}
