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

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/runtime"
)

// dispatch runs one instruction on s. The config-only ones go through
// ApplyConfig, the interpreter --change shares.
func (b *builder) dispatch(ctx context.Context, s *state, in Instruction) error {
	ex := func(w string) (string, error) { return b.expand(in, w, s.env()) }
	switch in.Cmd {
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
		}
		return b.metaStep(ctx, s, in, "ARG "+strings.Join(parts, " "))
	case "run":
		return b.runStep(ctx, s, in)
	case "copy", "add":
		return b.copyStep(ctx, s, in)
	}
	if !IsConfigInstruction(in.Cmd) {
		return b.errAt(in, "instruction %s is not supported", strings.ToUpper(in.Cmd))
	}
	st := ConfigState{Config: &s.img.Config, Args: envOf(s.args), Escape: b.df.Escape, CmdSet: s.cmdSet, Syntax: b.df.Syntax != ""}
	createdBy, err := ApplyConfig(&st, in)
	if err != nil {
		return b.errAt(in, "%v", err)
	}
	s.cmdSet = st.CmdSet
	switch in.Cmd {
	case "onbuild":
		// As BuildKit: a trigger is config only, with no history row (its
		// children's rows are those of the triggers that ran).
		s.key = cache.Key(s.key, createdBy)
		return nil
	case "workdir":
		return b.workdirStep(ctx, s, in, createdBy)
	}
	return b.metaStep(ctx, s, in, createdBy)
}

// workdirStep makes WORKDIR's directory (ApplyConfig has set it in the
// config): a layer, unless the directory is /.
func (b *builder) workdirStep(ctx context.Context, s *state, in Instruction, createdBy string) error {
	v := s.img.Config.WorkingDir
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
func (s *state) shellOf() []string { return s.img.Config.shell() }

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
