package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/runtime"
)

// RunError is a RUN whose command failed: its exit code and the last lines
// of its output.
type RunError struct {
	File    string
	Line    int
	Command string
	Code    int
	Tail    []string
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("%s:%d: RUN %s: the command exited with code %d", e.File, e.Line, e.Command, e.Code)
	if len(e.Tail) > 0 {
		msg += "; its last output:\n  " + strings.Join(e.Tail, "\n  ")
	}
	return msg
}

// runStep runs RUN in a container on a new snapshot; the layer is what the
// command changed.
func (b *builder) runStep(ctx context.Context, s *state, in Instruction) error {
	mounts, err := b.parseRunMounts(s, in)
	if err != nil {
		return err
	}
	args := b.command(s, in)
	stdin := ""
	if len(in.Heredocs) > 0 && !in.JSON {
		// As BuildKit: "RUN <<EOF" runs the document as the script; any
		// other heredoc goes back to the shell with its body and end line.
		h := in.Heredocs[0]
		line := strings.TrimSpace(strings.Join(in.Args, " "))
		if len(in.Heredocs) == 1 && strings.HasPrefix(line, "<<") && strings.Trim(strings.TrimLeft(line[2:], "-"), `"' `) == h.Name {
			args = append(append([]string{}, s.shellOf()...), h.Content)
		} else {
			script := line + "\n"
			for _, h := range in.Heredocs {
				script += h.Content + h.Name + "\n"
			}
			args = append(append([]string{}, s.shellOf()...), script)
		}
	}
	network := b.opts.Network
	if v := in.flag("network"); v != "" && v != "default" {
		network = v
	}
	if network != "none" && network != "host" {
		return b.errAt(in, "RUN --network=%s: want none, host or default", network)
	}
	createdBy := "RUN " + strings.Join(args, " ") + " # buildkit"
	mountPart, mountFiles, err := b.mountKeys(ctx, s, in, mounts)
	if err != nil {
		return err
	}
	key := cache.Key(s.key, createdBy, "args:"+strings.Join(sortedKV(s.args), "\n"), "network:"+network, "stdin:"+stdin)
	if len(mounts) > 0 {
		key = cache.Key(key, "mounts:"+mountPart)
	}
	inp := &stepInputs{id: b.stepID(s, createdBy), in: cache.Inputs{Args: s.args}}
	if len(mountFiles) > 0 {
		inp.in.Files = mountFiles
	}
	shown := strings.Join(in.Args, " ")
	if in.JSON {
		shown = jsonList(in.Args)
	}
	log := b.p.step(s.index, b.title(s, "RUN "+shown))
	env := append(envOf(s.args), s.img.Config.Env...)
	cfg := ocispec.ImageConfig{Env: dedupEnv(env), WorkingDir: s.img.Config.WorkingDir, User: s.img.Config.User}
	for _, m := range mounts {
		// As BuildKit: the first ssh mount is the agent, unless the
		// stage's environment names one.
		if m.sshFirst && !hasEnv(cfg.Env, "SSH_AUTH_SOCK") {
			cfg.Env = append(cfg.Env, "SSH_AUTH_SOCK="+m.target)
		}
	}
	return b.fsStep(ctx, s, in, log, key, createdBy, inp, func(ctx context.Context, root string) error {
		var code int
		st, err := b.withRunMounts(ctx, root, mounts, func(ms []specs.Mount, secretEnv []string) error {
			// cfg is this RUN's copy: the secrets go into its container's
			// environment and never into the image config.
			c := cfg
			if len(secretEnv) > 0 {
				c.Env = dedupEnv(append(append([]string(nil), cfg.Env...), secretEnv...))
			}
			var err error
			code, err = b.runContainer(ctx, root, c, args, stdin, network, ms, log)
			return err
		})
		inp.pruneUpper = st.pruneUpper
		if err != nil {
			return fmt.Errorf("%s:%d: RUN %s: %w", b.df.Name, in.Line, shown, err)
		}
		if code != 0 {
			return &RunError{File: b.df.Name, Line: in.Line, Command: shown, Code: code, Tail: log.flush()}
		}
		log.flush()
		return nil
	})
}

// dedupEnv keeps the last value of each variable, in first-seen order.
func dedupEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := idx[k]; ok {
			out[i] = e
			continue
		}
		idx[k] = len(out)
		out = append(out, e)
	}
	return out
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == name {
			return true
		}
	}
	return false
}

// runContainer runs args with runc on the mounted rootfs and returns the
// exit code. Cancelling ctx kills the container; it is always deleted.
func (b *builder) runContainer(ctx context.Context, rootfs string, cfg ocispec.ImageConfig, args []string, stdin, network string, mounts []specs.Mount, log *stepLog) (int, error) {
	if b.be.Runc == nil {
		return -1, fmt.Errorf("no container runtime configured")
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	id := "strata-build-" + hex.EncodeToString(rnd[:])
	spec, err := runtime.Spec(runtime.SpecOptions{
		Rootfs:      rootfs,
		Config:      cfg,
		Entrypoint:  []string{},
		Args:        args,
		Hostname:    "strata-build",
		Network:     runtime.NetworkMode(network),
		CgroupsPath: "/strata/" + id,
	})
	if err != nil {
		return -1, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	// The spec holds the environment, and so any secret given as env=:
	// keep it in memory, as secret files are.
	bundle, err := os.MkdirTemp(secretTempDir(), "strata-bundle-")
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(bundle)
	j, err := json.Marshal(spec)
	if err != nil {
		return -1, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), j, 0o600); err != nil {
		return -1, err
	}
	bg := context.WithoutCancel(ctx)
	stop := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		// Ends when the container exits (stop closed). On Ctrl-C it kills
		// every process of the container, retrying while runc is still
		// creating it (kill then says it does not exist).
		defer close(killed)
		select {
		case <-stop:
			return
		case <-ctx.Done():
		}
		for {
			if err := b.be.Runc.Kill(bg, id, syscall.SIGKILL, true); err == nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	if err := ctx.Err(); err != nil {
		close(stop)
		<-killed
		return -1, err
	}
	var in *strings.Reader
	io := runtime.IO{Stdout: log, Stderr: log}
	if stdin != "" {
		in = strings.NewReader(stdin)
		io.Stdin = in
	}
	code, err := b.be.Runc.Run(bg, id, bundle, io)
	close(stop)
	<-killed
	_ = b.be.Runc.Delete(bg, id, true)
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return code, err
}
