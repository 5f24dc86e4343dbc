package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
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
	// Hint says which network the RUN had when its output looks like a
	// network error.
	Hint string
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("%s:%d: RUN %s: the command exited with code %d", e.File, e.Line, e.Command, e.Code)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
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
	args := command(&s.img.Config, in)
	stdin := ""
	var script *runMount // a heredoc run as a file, through its #! line
	if len(in.Heredocs) > 0 && !in.JSON {
		// As BuildKit: "RUN <<EOF" runs the document as the script, or,
		// when it starts with "#!", writes it to an executable file under
		// /dev/pipes/ (a mount, so in no layer) that the shell runs, so
		// its own interpreter does; any other heredoc goes back to the
		// shell with its body and end line.
		h := in.Heredocs[0]
		line := strings.TrimSpace(strings.Join(in.Args, " "))
		if len(in.Heredocs) == 1 && strings.HasPrefix(line, "<<") && strings.Trim(strings.TrimLeft(line[2:], "-"), `"' `) == h.Name {
			body := h.Content
			if h.Chomp {
				body = parser.ChompHeredocContent(body)
			}
			if strings.HasPrefix(body, "#!") {
				target := path.Join("/dev/pipes", h.Name)
				script = &runMount{typ: "sys", target: target, data: body, mode: 0o755}
				body = target
			}
			args = append(append([]string{}, s.shellOf()...), body)
		} else {
			script := line + "\n"
			for _, h := range in.Heredocs {
				script += h.Content + h.Name + "\n"
			}
			args = append(append([]string{}, s.shellOf()...), script)
		}
	}
	network, err := runNetwork(b.opts.Network, in.flag("network"))
	if err != nil {
		return b.errAt(in, "RUN --network=%s: want none, host or default", in.flag("network"))
	}
	createdBy := "RUN " + strings.Join(args, " ") + " # buildkit"
	mountPart, mountFiles, err := b.mountKeys(ctx, s, in, mounts)
	if err != nil {
		return err
	}
	key := cache.Key(s.key, createdBy, "args:"+strings.Join(sortedKV(s.args), "\n"), "network:"+network, "stdin:"+stdin)
	if script != nil {
		key = cache.Key(key, "script:"+script.data)
	}
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
	cfg := ocispec.ImageConfig{Env: runtime.MergeEnv(nil, env), WorkingDir: s.img.Config.WorkingDir, User: s.img.Config.User}
	for _, m := range mounts {
		// As BuildKit: the first ssh mount is the agent, unless the
		// stage's environment names one.
		if _, named := runtime.LookupEnv(cfg.Env, "SSH_AUTH_SOCK"); m.sshFirst && !named {
			cfg.Env = append(cfg.Env, "SSH_AUTH_SOCK="+m.target)
		}
	}
	history := "RUN " + b.runArgsText(s) + strings.Join(args, " ") + " # buildkit"
	return b.fsStep(ctx, s, in, log, key, history, inp, func(ctx context.Context, root string) error {
		var code int
		sys := sysMounts(network)
		if script != nil {
			sys = append(sys, script)
		}
		st, err := b.withRunMounts(ctx, root, append(sys, mounts...), func(ms []specs.Mount, secretEnv []string) error {
			// cfg is this RUN's copy: the secrets go into its container's
			// environment and never into the image config.
			c := cfg
			if len(secretEnv) > 0 {
				c.Env = runtime.MergeEnv(nil, append(append([]string(nil), cfg.Env...), secretEnv...))
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
			tail := log.flush()
			return &RunError{File: b.df.Name, Line: in.Line, Command: shown, Code: code, Tail: tail, Hint: networkHint(network, tail)}
		}
		log.flush()
		return nil
	})
}

// runArgsText is what BuildKit puts before a RUN's command in its history
// row when the stage declared ARGs: "|N K=V … ", each ARG with the value
// the RUN sees (an ENV of the same name wins) or "" without one, in the
// order declared. Docker 20.10's built-in frontend repeats an ARG declared
// twice; the current one, which a "# syntax=" line selects, lists it once.
func (b *builder) runArgsText(s *state) string {
	if len(s.argOrder) == 0 {
		return ""
	}
	env := map[string]string{}
	for _, kv := range s.env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var parts []string
	at := map[string]int{}
	for _, k := range s.argOrder {
		kv := k + "=" + env[k]
		if i, ok := at[k]; ok && b.df.Syntax != "" {
			parts[i] = kv
			continue
		}
		at[k] = len(parts)
		parts = append(parts, kv)
	}
	return fmt.Sprintf("|%d %s ", len(parts), strings.Join(parts, " "))
}

// sandboxHostname is a RUN's hostname, BuildKit's, which packages may
// record in the image (debconf does).
const sandboxHostname = "buildkitsandbox"

// sysMounts are the files every RUN sees, as BuildKit's: /etc/hosts naming
// localhost and the sandbox's hostname, and the host's resolv.conf, both
// read-only binds, so none of them (nor what a package's install script
// would write there) lands in the layer; a mount point the rootfs lacked is
// removed after the run, as RUN --mount's are.
func sysMounts(network string) []*runMount {
	hosts := "127.0.0.1\tlocalhost " + sandboxHostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	return []*runMount{
		{typ: "sys", target: "/etc/hosts", data: hosts},
		{typ: "sys", target: "/etc/resolv.conf", data: runtime.HostResolvConf(network == "host")},
	}
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
	netns := ""
	if network == "default" {
		if b.be.Networks == nil {
			network = "none" // a builder without networks (package tests)
		} else {
			b.netKeep.hold(b.be.Networks)
			sb, err := b.be.Networks.Attach(netAttach(id))
			if err != nil {
				return -1, fmt.Errorf("network for RUN: %w", err)
			}
			defer func() { _ = b.be.Networks.Detach(sb.ID) }()
			netns = sb.Netns
		}
	}
	spec, err := runtime.Spec(runtime.SpecOptions{
		NetnsPath:   netns,
		Rootfs:      rootfs,
		Config:      cfg,
		Entrypoint:  []string{},
		Args:        args,
		Hostname:    sandboxHostname,
		Network:     runtime.NetworkMode(network),
		CgroupsPath: "/strata/" + id,
	})
	if err != nil {
		return -1, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	if _, ok := runtime.LookupEnv(cfg.Env, "HOSTNAME"); !ok {
		// As BuildKit: a RUN's environment has no HOSTNAME (a container's
		// has, which the runtime spec adds for docker run).
		spec.Process.Env = slices.DeleteFunc(spec.Process.Env, func(e string) bool { return strings.HasPrefix(e, "HOSTNAME=") })
	}
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
