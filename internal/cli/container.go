package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() {
	commands = append(commands, newContainerCommand)
	// strata inspect answers for a container before an image.
	inspectors = append(inspectors, inspector{kind: "container", find: func(cmd *cobra.Command, c *CLI, name string) (any, bool, error) {
		return found(c, cmd, func(e *engine.Engine) (any, error) { return e.InspectContainer(cmd.Context(), name) })
	}})
}

// containerVerbs are the verbs `strata container` groups, as docker's
// management command does; each is the same command as the top-level one.
var containerVerbs = []func(c *CLI) *cobra.Command{
	newCreateCommand, newRunCommand, newStartCommand, newStopCommand, newKillCommand,
	newRestartCommand, newRmCommand, newLogsCommand, newExecCommand, newWaitCommand,
	newCpCommand, newExportCommand, newDiffCommand, newCommitCommand, newPauseCommand,
	newUnpauseCommand, newContainerInspectCommand, newUpdateCommand, newStatsCommand,
	newRenameCommand, newTopCommand,
}

func newContainerCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container COMMAND",
		Short: "Manage containers",
		Long: `Container groups the container verbs, as docker container does: strata container
ls is strata ps, strata container rm is strata rm, and so on. Each verb's help
describes it.`,
		Example: `  strata container ls -a
  strata container run --rm busybox echo hello
  strata container inspect web`,
	}
	ls := newPsCommand(c)
	ls.Use = "ls [OPTIONS]"
	ls.Aliases = []string{"ps", "list"}
	cmd.AddCommand(ls, newContainerPruneCommand(c))
	for _, f := range containerVerbs {
		cmd.AddCommand(f(c))
	}
	return cmd
}

func newContainerInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Show low-level information on containers",
		Long: `Inspect prints a JSON array describing each container, shaped like docker
container inspect: Id, Created, Path, Args, State (Status, Running, Pid,
ExitCode, StartedAt, FinishedAt), Image, Name, HostConfig, GraphDriver (the
snapshot and its upper dir), Config and NetworkSettings.Ports.`,
		Example: `  strata container inspect web
  strata container inspect --format '{{.State.Status}} {{.State.ExitCode}}' web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return inspectEach(cmd, format, args, e.InspectContainer)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	return cmd
}

func newContainerPruneCommand(c *CLI) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Long: `Prune removes every container that is not running (created or exited), with its
writable layer, and prints their IDs and the space their layers took, as docker
container prune does. Strata never prompts, so -f is accepted and ignored.`,
		Example: `  strata container prune`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			total, err := pruneContainers(cmd, c, f)
			fmt.Fprintf(cmd.OutOrStdout(), "Total reclaimed space: %s\n", humanSize(total))
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (Strata never prompts)")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "prune only containers that match: until=TIME (created before a time or a duration ago: 24h), label=KEY[=VALUE], label!=KEY[=VALUE]")
	return cmd
}

// pruneContainers removes every container that is not running, prints
// their IDs as docker does, and returns the bytes their writable layers
// took.
func pruneContainers(cmd *cobra.Command, c *CLI, filters map[string][]string) (int64, error) {
	e, err := c.Engine(cmd.Context())
	if err != nil {
		return 0, err
	}
	removed, total, err := e.PruneContainers(cmd.Context(), engine.Filters(filters))
	if len(removed) > 0 {
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, "Deleted Containers:")
		for _, id := range removed {
			fmt.Fprintln(w, id)
		}
		fmt.Fprintln(w)
	}
	return total, err
}

// createFlags are the flags create and run share.
type createFlags struct {
	pull        string // missing, always or never
	platform    string
	name        string
	env         []string
	envFiles    []string
	workdir     string
	user        string
	entrypoint  string
	publish     []string
	volumes     []string
	mounts      []string
	volumesFrom []string
	network     string
	hostname    string
	readOnly    bool
	init        bool
	tty         bool
	interactive bool
	rm          bool
	restart     string
	security    securityFlags
	resources   resourceFlags
	net         netFlags
	everyday    everydayFlags
}

func addCreateFlags(fs *pflag.FlagSet, f *createFlags) {
	fs.SetInterspersed(false) // flags after IMAGE belong to the command
	fs.StringVar(&f.pull, "pull", "missing", `pull the image before running: "always", "missing" (when not in the store) or "never"`)
	fs.StringVar(&f.platform, "platform", "", "the image's platform (os/arch[/variant]); only this machine's runs")
	fs.StringVar(&f.name, "name", "", "assign a name to the container")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to pass the caller's)")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "read environment variables from a file (KEY=VALUE lines)")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "user to run as: name|uid[:group|gid]")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint (\"\" clears it)")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a port: [IP:]HOSTPORT:PORT[/tcp|/udp] (IP defaults to 127.0.0.1)")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "mount a volume or a host path: [NAME|/HOST:]/PATH[:ro] (a named volume is made on first use)")
	fs.StringArrayVar(&f.mounts, "mount", nil, "attach a mount: type=bind|volume|tmpfs,src=…,dst=…[,readonly][,volume-opt=K=V][,tmpfs-size=…]")
	fs.StringArrayVar(&f.volumesFrom, "volumes-from", nil, "mount the volumes of a container: CONTAINER[:ro|:rw]")
	fs.StringVar(&f.network, "network", "bridge", "network: bridge (the default: outbound only), a user-defined network's name, none (loopback only) or host")
	addNetFlags(fs, &f.net)
	fs.StringVar(&f.hostname, "hostname", "", "container host name (default: the short ID)")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the container's root filesystem read-only")
	fs.BoolVar(&f.init, "init", false, "run an init as pid 1 that forwards signals and reaps zombies")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-terminal")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep standard input open")
	fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
	fs.StringVar(&f.restart, "restart", "no", `restart policy when the container exits: "no", "always", "unless-stopped" or "on-failure[:max-retries]"`)
	addSecurityFlags(fs, &f.security)
	addResourceFlags(fs, &f.resources, false)
	addEverydayFlags(fs, &f.everyday)
}

// options turns the flags and IMAGE [COMMAND [ARG...]] into create options
// (the image is resolved by the engine).
func (f *createFlags) options(cmd *cobra.Command, args []string) (engine.CreateOptions, error) {
	o := engine.CreateOptions{
		Name: f.name, Cmd: args[1:], WorkingDir: f.workdir, User: f.user,
		Hostname: f.hostname, Tty: f.tty, OpenStdin: f.interactive, ReadOnly: f.readOnly,
		Binds: f.volumes, VolumesFrom: f.volumesFrom, Init: f.init, Publish: f.publish, AutoRemove: f.rm,
		NetworkOptions: f.net.options(), PublishAll: f.net.publishAll,
	}
	if err := checkPullFlags(f); err != nil {
		return o, err
	}
	for _, m := range f.mounts {
		pm, err := engine.ParseMount(m)
		if err != nil {
			return o, err
		}
		o.Mounts = append(o.Mounts, pm)
	}
	network, err := engine.ParseNetworkMode(f.network)
	if err != nil {
		return o, err
	}
	o.Network = network
	if o.RestartPolicy, err = engine.ParseRestartPolicy(f.restart); err != nil {
		return o, err
	}
	if f.rm && !o.RestartPolicy.IsNone() {
		return o, fmt.Errorf("conflicting options: cannot specify both --restart and --rm: %w", errdefs.ErrInvalidArgument)
	}
	sec, err := f.security.security()
	if err != nil {
		return o, err
	}
	o.Security = sec
	if cmd.Flags().Changed("entrypoint") {
		o.Entrypoint = []string{}
		if f.entrypoint != "" {
			o.Entrypoint = []string{f.entrypoint}
		}
	}
	if err := f.resources.apply(cmd.Flags(), &o.Resources); err != nil {
		return o, err
	}
	if o.Resources.OomKillDisable && o.Resources.Memory == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.")
	}
	env, err := resolveEnv(f.envFiles, f.env)
	if err != nil {
		return o, err
	}
	o.Env = env
	if err := f.everyday.apply(cmd.Flags(), &o); err != nil {
		return o, err
	}
	return o, nil
}

// resolveEnv reads --env-file files, then -e values, into KEY=VALUE: a bare
// KEY takes the caller's value and is dropped when the caller has none,
// as docker does.
func resolveEnv(files, flags []string) ([]string, error) {
	var out []string
	add := func(v string) error {
		if v == "" || strings.HasPrefix(v, "=") {
			return fmt.Errorf("invalid environment variable %q: %w", v, errdefs.ErrInvalidArgument)
		}
		if strings.Contains(v, "=") {
			out = append(out, v)
		} else if val, ok := os.LookupEnv(v); ok {
			out = append(out, v+"="+val)
		}
		return nil
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("env file: %w", err)
		}
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimLeft(sc.Text(), " \t")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := add(line); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: %w", name, n, err)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("env file %s: %w", name, err)
		}
	}
	for _, v := range flags {
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// terminal puts the caller's terminal in raw mode for an attached -t and
// reports its size, now and on every SIGWINCH. restore undoes both.
type terminal struct {
	sizes   chan engine.Winsize
	restore func()
}

// checkTTY refuses -it when standard input is not a terminal, as docker's
// CLI does: raw mode and the window size need one, and the process would
// wait on a terminal that never answers.
func checkTTY(stdin io.Reader) error {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return errors.New("the input device is not a TTY")
}

// openTerminal prepares the streams of an attached or exec'd -t: stdin in
// raw mode when it is a terminal, and the size of the terminal (stdout's,
// else stdin's, else 24x80) sent first, since the pty starts at 0x0.
func openTerminal(stdin io.Reader, stdout io.Writer) *terminal {
	t := &terminal{sizes: make(chan engine.Winsize, 4), restore: func() {}}
	sizeFd := -1
	for _, s := range []any{stdout, stdin} {
		if f, ok := s.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			sizeFd = int(f.Fd())
			break
		}
	}
	size := func() engine.Winsize {
		if sizeFd >= 0 {
			if w, h, err := term.GetSize(sizeFd); err == nil && w > 0 && h > 0 {
				return engine.Winsize{Rows: uint16(h), Cols: uint16(w)}
			}
		}
		return engine.Winsize{Rows: 24, Cols: 80}
	}
	t.sizes <- size()
	var undo []func()
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if st, err := term.MakeRaw(int(f.Fd())); err == nil {
			undo = append(undo, func() { _ = term.Restore(int(f.Fd()), st) })
		}
	}
	if sizeFd >= 0 {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		stop := make(chan struct{})
		go func() {
			// Ends when restore closes stop.
			for {
				select {
				case <-winch:
					select {
					case t.sizes <- size():
					default: // the container is not reading sizes; drop
					}
				case <-stop:
					return
				}
			}
		}()
		undo = append(undo, func() { signal.Stop(winch); close(stop) })
	}
	t.restore = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	return t
}

// eachContainer runs fn for each argument, printing the argument on
// success as docker's stop, kill, rm, pause do, and joining the errors.
func eachContainer(cmd *cobra.Command, args []string, fn func(ref string) error) error {
	var errs []error
	for _, a := range args {
		if err := fn(a); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), a)
	}
	return errors.Join(errs...)
}

// inspectEach is the inspect verbs' loop: each name looked up, the found
// ones printed (printInspect), the errors of the others returned joined.
func inspectEach[T any](cmd *cobra.Command, format string, names []string, get func(ctx context.Context, name string) (T, error)) error {
	var out []any
	var errs []error
	for _, a := range names {
		v, err := get(cmd.Context(), a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	if err := printInspect(cmd.OutOrStdout(), format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// printInspect prints inspect's JSON array, or each object through a
// --format template over its JSON names (.State.Status), as inspect does.
func printInspect(w io.Writer, format string, out []any) error {
	if format == "" {
		if out == nil {
			out = []any{}
		}
		b, err := json.MarshalIndent(out, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	rows := make([]any, len(out))
	for i, v := range out {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		// Numbers stay as written (67108864, not 6.7108864e+07), as
		// docker's templates print them.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return err
		}
		rows[i] = m
	}
	return render(w, format, "", rows, nil)
}
