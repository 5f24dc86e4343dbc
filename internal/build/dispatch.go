package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/runtime"
)

// dispatch runs one instruction on s.
func (b *builder) dispatch(ctx context.Context, s *state, in Instruction) error {
	env := s.env()
	ex := func(w string) (string, error) { return b.expand(in, w, env) }
	switch in.Cmd {
	case "env":
		var parts []string
		for i := 0; i+1 < len(in.Args); i += 2 {
			k, err := ex(in.Args[i])
			if err != nil {
				return err
			}
			v, err := ex(in.Args[i+1])
			if err != nil {
				return err
			}
			s.img.Config.Env = runtime.SetEnv(s.img.Config.Env, k, v)
			env = s.env()
			parts = append(parts, k+"="+v)
		}
		return b.metaStep(ctx, s, in, "ENV "+strings.Join(parts, " "))
	case "label":
		var parts []string
		for i := 0; i+1 < len(in.Args); i += 2 {
			k, err := ex(in.Args[i])
			if err != nil {
				return err
			}
			v, err := ex(in.Args[i+1])
			if err != nil {
				return err
			}
			if s.img.Config.Labels == nil {
				s.img.Config.Labels = map[string]string{}
			}
			s.img.Config.Labels[k] = v
			parts = append(parts, k+"="+v)
		}
		return b.metaStep(ctx, s, in, "LABEL "+strings.Join(parts, " "))
	case "maintainer":
		v, err := ex(in.Args[0])
		if err != nil {
			return err
		}
		s.img.Author = v
		return b.metaStep(ctx, s, in, "MAINTAINER "+v)
	case "arg":
		var parts []string
		for _, kv := range in.Args {
			k, v, hasV := strings.Cut(kv, "=")
			if hasV {
				var err error
				if v, err = ex(v); err != nil {
					return err
				}
				// As BuildKit: the row shows the Dockerfile's default,
				// never a --build-arg value (it may be a secret).
				parts = append(parts, k+"="+v)
			} else {
				parts = append(parts, k)
			}
			if bv, ok := b.opts.BuildArgs[k]; ok {
				v, hasV = bv, true
			} else if mv, ok := b.meta[k]; ok && !hasV {
				v, hasV = mv, true
			} else if av, ok := autoArgs()[k]; ok && !hasV {
				v, hasV = av, true
			}
			s.argSet[k] = true
			s.argOrder = append(s.argOrder, k)
			if hasV {
				s.args[k] = v
			} else {
				delete(s.args, k)
			}
			env = s.env()
		}
		return b.metaStep(ctx, s, in, "ARG "+strings.Join(parts, " "))
	case "user":
		v, err := ex(in.Args[0])
		if err != nil {
			return err
		}
		s.img.Config.User = v
		return b.metaStep(ctx, s, in, "USER "+v)
	case "expose":
		var ports []string
		for _, a := range in.Args {
			v, err := ex(a)
			if err != nil {
				return err
			}
			for _, p := range strings.Fields(v) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				if s.img.Config.ExposedPorts == nil {
					s.img.Config.ExposedPorts = map[string]struct{}{}
				}
				s.img.Config.ExposedPorts[p] = struct{}{}
				ports = append(ports, p)
			}
		}
		if b.df.Syntax != "" {
			// The current frontend's form: the ports as declared.
			return b.metaStep(ctx, s, in, fmt.Sprintf("EXPOSE %v", ports))
		}
		return b.metaStep(ctx, s, in, "EXPOSE map["+strings.Join(portsMap(ports), " ")+"]")
	case "volume":
		var vols []string
		for _, a := range in.Args {
			v, err := ex(a)
			if err != nil {
				return err
			}
			if v == "" {
				return b.errAt(in, "VOLUME with an empty path")
			}
			if s.img.Config.Volumes == nil {
				s.img.Config.Volumes = map[string]struct{}{}
			}
			s.img.Config.Volumes[v] = struct{}{}
			vols = append(vols, v)
		}
		return b.metaStep(ctx, s, in, fmt.Sprintf("VOLUME %v", vols))
	case "stopsignal":
		v, err := ex(in.Args[0])
		if err != nil {
			return err
		}
		s.img.Config.StopSignal = v
		return b.metaStep(ctx, s, in, "STOPSIGNAL "+v)
	case "shell":
		s.img.Config.Shell = append([]string(nil), in.Args...)
		return b.metaStep(ctx, s, in, fmt.Sprintf("SHELL %v", in.Args))
	case "cmd":
		s.img.Config.Cmd = b.command(s, in)
		s.cmdSet = true
		return b.metaStep(ctx, s, in, "CMD "+jsonList(s.img.Config.Cmd))
	case "entrypoint":
		s.img.Config.Entrypoint = b.command(s, in)
		if !s.cmdSet {
			s.img.Config.Cmd = nil
		}
		return b.metaStep(ctx, s, in, "ENTRYPOINT "+jsonList(s.img.Config.Entrypoint))
	case "healthcheck":
		hc, err := b.healthcheck(s, in)
		if err != nil {
			return err
		}
		s.img.Config.Healthcheck = hc
		return b.metaStep(ctx, s, in, "HEALTHCHECK "+b.healthcheckText(hc))
	case "onbuild":
		t := strings.TrimSpace(in.Original)
		t = strings.TrimSpace(t[len("ONBUILD"):])
		s.img.Config.OnBuild = append(s.img.Config.OnBuild, t)
		// As BuildKit: a trigger is config only, with no history row (its
		// children's rows are those of the triggers that ran).
		s.key = cache.Key(s.key, "ONBUILD "+t)
		return nil
	case "workdir":
		v, err := ex(in.Args[0])
		if err != nil {
			return err
		}
		// As BuildKit: an absolute path is kept as written (a trailing
		// slash too), a relative one is joined to the current one.
		if !path.IsAbs(v) {
			v = path.Join("/", s.img.Config.WorkingDir, v)
		}
		s.img.Config.WorkingDir = v
		createdBy := "WORKDIR " + v
		if v == "/" {
			return b.metaStep(ctx, s, in, createdBy)
		}
		user := s.img.Config.User
		key := cache.Key(s.key, createdBy, "user:"+user)
		log := b.p.step(s.index, b.title(s, createdBy))
		// The directories it makes belong to the stage's USER, as
		// BuildKit's (a RUN as that user then writes into them); one that
		// exists is left as it is, and the step still makes a layer.
		return b.fsStep(ctx, s, in, log, key, createdBy, nil, func(ctx context.Context, root string) error {
			o := copyOpts{}
			if user != "" {
				u, err := runtime.ResolveUser(root, user)
				if err != nil {
					return b.errAt(in, "WORKDIR %s: USER %s: %v", v, user, err)
				}
				o = copyOpts{chown: true, uid: int(u.UID), gid: int(u.GID)}
			}
			_, err := mkdirs(root, path.Clean(v), o)
			return err
		})
	case "run":
		return b.runStep(ctx, s, in)
	case "copy", "add":
		return b.copyStep(ctx, s, in)
	}
	return b.errAt(in, "instruction %s is not supported", strings.ToUpper(in.Cmd))
}

// healthcheckText is HEALTHCHECK's history text: docker 20.10's built-in
// frontend quotes its config struct (%q); the current one, which a
// "# syntax=" line selects, prints its fields (%+v).
func (b *builder) healthcheckText(hc *Healthcheck) string {
	if b.df.Syntax != "" {
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

func portsMap(ports []string) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = p + ":{}"
	}
	slices.Sort(out)
	return out
}

// jsonList formats a list as BuildKit's history does: ["a" "b"].
func jsonList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// shellOf is the stage's SHELL, or /bin/sh -c.
func (s *state) shellOf() []string {
	if len(s.img.Config.Shell) > 0 {
		return s.img.Config.Shell
	}
	return []string{"/bin/sh", "-c"}
}

func (b *builder) command(s *state, in Instruction) []string {
	if in.JSON {
		return append([]string{}, in.Args...)
	}
	return append(append([]string{}, s.shellOf()...), strings.Join(in.Args, " "))
}

func (b *builder) healthcheck(s *state, in Instruction) (*Healthcheck, error) {
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
				return nil, b.errAt(in, "HEALTHCHECK --retries=%s: want a whole number", v)
			}
			hc.Retries = n
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, b.errAt(in, "HEALTHCHECK --%s=%s: %v", k, v, err)
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

// metaStep records a step that changes only the config: a history row with
// empty_layer, and the step in the cache key chain. Its created time is
// kept in the cache so a rebuild gives the same image.
func (b *builder) metaStep(ctx context.Context, s *state, in Instruction, createdBy string) error {
	s.key = cache.Key(s.key, createdBy)
	at := b.created()
	if !b.opts.NoCache && b.opts.SourceDateEpoch == nil {
		if rec, ok, err := b.cache.Get(ctx, s.key); err == nil && ok {
			at = rec.Created
			b.use(s.key)
		} else {
			// Written with the others at the end of the build, in one commit.
			b.usedMu.Lock()
			b.pending = append(b.pending, cache.Record{Key: s.key, Empty: true, Created: at})
			b.usedMu.Unlock()
		}
	}
	b.addHistory(s, createdBy, true, at)
	return nil
}

func (b *builder) use(k digest.Digest) {
	b.usedMu.Lock()
	b.used = append(b.used, k)
	b.usedMu.Unlock()
}

// writeHeredocs writes COPY's here-documents as files of a temporary
// source tree.
func writeHeredocs(in Instruction, dir string) ([]srcItem, error) {
	var items []srcItem
	for _, h := range in.Heredocs {
		p := filepath.Join(dir, filepath.Base(h.Name))
		if err := os.WriteFile(p, []byte(h.Content), 0o644); err != nil {
			return nil, err
		}
		items = append(items, srcItem{root: dir, full: p, rel: "<<" + h.Name, name: filepath.Base(h.Name)})
	}
	return items, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var _ = fmt.Sprintf
