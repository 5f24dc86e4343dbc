package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/progress"
)

func init() { commands = append(commands, newBuildCommand) }

func newBuildCommand(c *CLI) *cobra.Command {
	var (
		opts      engine.BuildOptions
		buildArgs []string
		labels    []string
		mode      string
		quiet     bool
		iidfile   string
	)
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] CONTEXT",
		Short: "Build an image from a Dockerfile",
		Long: `Build runs the Dockerfile in CONTEXT (a directory, or "-" for a tar of the
context or a lone Dockerfile on standard input) and names the image with each -t.

Every step that changes files makes one layer: COPY and ADD write straight into a
new snapshot, RUN runs in a container whose changes become the layer. Steps that
only change the config are history rows without a layer. A step is taken from the
cache while its parent, its text, the build args it sees and the content of its
sources are unchanged; file hashes are remembered by size, mtime and inode, so a
warm build reads no file data. Only the stages the target needs are built, and
stages that do not depend on each other run at the same time.

As docker build does, layers are not compressed while building: each stays in its
snapshot with a small index, the manifest names it uncompressed, and push
compresses it (gzip) on the way out; save writes it from the snapshot.
--compression stores a compressed blob per new layer as the build runs instead.

With SOURCE_DATE_EPOCH (in the environment or as a --build-arg) file times and
created times are clamped to it, so the same context gives the same image digest
on any store. A failed build tags nothing; its finished steps stay cached.

As docker build does, an image that FROM, COPY --from or RUN --mount from= names
and the store lacks is pulled first (with --pull, every one is pulled again).

Progress goes to standard error. On a terminal (--progress auto, or tty) it is
BuildKit's display: one line per step with its time, the last lines a running
step printed under it, redrawn in place; at the end every step once, and a failed
step's recent output. Otherwise (or with plain) it is BuildKit's plain lines,
"#3 [2/4] RUN make", each output line, "#3 DONE 1.2s"; plain also says why a step
missed the cache.

RUN --mount takes BuildKit's bind, cache, tmpfs, secret and ssh mounts. Cache
mounts live under the store's build-cache-mounts, are build cache in "strata
system df", and go with "strata builder prune" when no build holds them; a
--secret is readable by the RUNs that mount it, as a file or (with env=VAR) as
a variable, and lands in no layer, history row or cache key.

--ssh ID lets the RUNs with --mount=type=ssh,id=ID (the id defaults to
"default") use an SSH agent, for git clone over ssh and the like: "--ssh default"
forwards the agent at $SSH_AUTH_SOCK, "--ssh default=SOCKET" another agent, and
"--ssh ID=KEYFILE[,KEYFILE...]" serves those unencrypted private keys from an
agent of Strata's own. The RUN sees a socket of its own (SSH_AUTH_SOCK points at
it) that can list keys and sign, not add, remove or lock; the keys never enter
the image, and the cache does not depend on them. A RUN whose ssh id was not
given runs without the mount, or fails when the mount says required=true.`,
		Example: `  strata build -t app:v1 .
  strata build -f docker/Dockerfile.prod --build-arg VERSION=1.2 --target runtime -t app .
  strata build --progress plain --no-cache .
  strata build --secret id=npmrc,src=$HOME/.npmrc --secret id=token,env=API_TOKEN -t app .
  strata build --ssh default -t app .       # RUN --mount=type=ssh git clone git@host:org/repo
  strata build --ssh deploy=$HOME/.ssh/deploy_ed25519 -t app .
  tar -c . | strata build -t app -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Context = args[0]
			opts.Stdin = c.Stdin
			var err error
			if opts.BuildArgs, err = keyValues("--build-arg", buildArgs, true); err != nil {
				return err
			}
			if opts.Labels, err = keyValues("--label", labels, false); err != nil {
				return err
			}
			if v, ok := opts.BuildArgs["SOURCE_DATE_EPOCH"]; ok && v != "" {
				_ = v // build.Options reads it from the build args
			} else if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
				sec, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return fmt.Errorf("SOURCE_DATE_EPOCH=%s: want seconds since 1970: %w", v, errdefs.ErrInvalidArgument)
				}
				t := time.Unix(sec, 0).UTC()
				opts.SourceDateEpoch = &t
			}
			errOut := cmd.ErrOrStderr()
			tty := false
			switch mode {
			case "auto", "":
				tty = progress.IsTerminal(errOut)
				opts.Progress = errOut
			case "tty":
				tty = true
			case "plain":
				opts.Progress, opts.Verbose = errOut, true
			case "quiet":
			default:
				return fmt.Errorf("--progress %s: want auto, plain, tty or quiet: %w", mode, errdefs.ErrInvalidArgument)
			}
			if quiet {
				opts.Progress, tty = nil, false
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var disp *progress.StepDisplay
			if tty {
				disp = progress.NewStepDisplay(errOut, progress.StepDisplayOptions{Size: progress.TerminalSize(errOut)})
				opts.Progress, opts.Display = nil, disp.Reporter()
				disp.Start()
			}
			res, err := e.Build(cmd.Context(), opts)
			if disp != nil {
				disp.Close(err)
				opts.Progress = errOut // for the lines below
			}
			if err != nil {
				return err
			}
			if iidfile != "" {
				if err := os.WriteFile(iidfile, []byte(res.ID.String()), 0o644); err != nil {
					return fmt.Errorf("--iidfile: %w", err)
				}
			}
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), res.ID)
				return nil
			}
			w := cmd.ErrOrStderr()
			if opts.Progress == nil {
				w = io.Discard
			}
			fmt.Fprintf(w, "writing image %s\n", res.ID)
			for _, t := range res.Tags {
				fmt.Fprintf(w, "naming to %s\n", t)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Tags, "tag", "t", nil, "name the image NAME[:TAG] (repeatable)")
	f.StringVarP(&opts.Dockerfile, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile)")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "set a build argument KEY=VALUE (KEY alone takes it from the environment)")
	f.StringVar(&opts.Target, "target", "", "build this stage and what it needs, not the last stage")
	f.BoolVar(&opts.NoCache, "no-cache", false, "run every step, ignoring the cache")
	f.BoolVar(&opts.Pull, "pull", false, "pull every image the Dockerfile names, even those the store has (a missing one is always pulled)")
	f.StringArrayVar(&labels, "label", nil, "set an image label KEY=VALUE")
	f.StringVar(&iidfile, "iidfile", "", "write the image ID to this file")
	f.StringVar(&mode, "progress", "auto", "progress output: auto (tty on a terminal, else plain lines), tty (steps redrawn in place), plain (with cache miss reasons) or quiet")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
	f.BoolVar(&opts.Squash, "squash", false, "merge the layers above the base image into one")
	f.StringVar(&opts.Network, "network", "default", "network for RUN: default (outbound through pasta), none or host")
	f.StringVar(&opts.Compression, "compression", "", "store each new layer as a gzip, zstd or none (uncompressed) blob as the build runs (default: keep it unpacked only, compressed with gzip when pushed)")
	f.StringArrayVar(&opts.Secrets, "secret", nil, "a secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR")
	f.StringArrayVar(&opts.SSH, "ssh", nil, "an SSH agent for RUN --mount=type=ssh: ID (the agent at $SSH_AUTH_SOCK), ID=SOCKET or ID=KEYFILE[,KEYFILE...] (repeatable)")
	return cmd
}

// keyValues parses KEY=VALUE flags; with fromEnv a bare KEY takes the
// environment's value, as docker's --build-arg does.
func keyValues(flag string, list []string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE: %w", flag, kv, errdefs.ErrInvalidArgument)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%s %q: want KEY=VALUE: %w", flag, kv, errdefs.ErrInvalidArgument)
			}
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		out[k] = v
	}
	return out, nil
}
