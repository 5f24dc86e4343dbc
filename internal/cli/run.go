package cli

import (
	"context"
	"errors"

	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newRunCommand) }

func newRunCommand(c *CLI) *cobra.Command {
	var f createFlags
	var detach, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Long: `Run creates a container from a local image and starts it, as docker run does. The
image's layers are the read-only lower layers of an overlay mount; the container
writes to its own upper layer, which diff lists and commit turns into a layer.

The process runs under runc in new pid, mount, uts, ipc and network namespaces
with docker's default capabilities. Without -d, run streams its output and
exits with its status: 125 when Strata itself fails (an unknown image, a bad
flag), 126 when the command cannot be run, 127 when it is not found. With -d,
a small monitor process keeps the container's logs and records its exit, and
run prints the container's ID. An interrupt, SIGTERM or SIGHUP while attached
is passed to the container (then SIGKILL if it is still running two seconds
later); with --sig-proxy=false SIGINT and SIGTERM detach instead, leaving the
container running. When the reader of run's output goes away (strata run IMG
yes | head -1), the container gets SIGPIPE the same way, and its output goes
on to the log only (with --sig-proxy=false it runs on). A container's first
process that leaves the signal at its default action, which a pid
namespace's init is spared, gets SIGKILL at once instead (exit 137): the
run ends as the same process outside a container would.

The container gets a network namespace of its own on the default network,
"bridge": an address, outbound TCP and UDP and DNS through pasta, and nothing
of the host's loopback unless asked (--add-host NAME:host-gateway). --network
NAME joins a user-defined network (strata network create), where containers
reach each other by name, --network-alias and short ID; --network none is
loopback only, --network host the host's own. -p publishes a port on the
host's 127.0.0.1 (or the address given) by forwarding each connection into
the container; -P publishes every EXPOSEd port on a free one (strata port).

An image the store lacks is pulled first, as docker run does ("Unable to find
image 'busybox:latest' locally", then the pull's progress on standard error);
--pull always pulls every time, --pull never not at all. --platform accepts
only this machine's platform: there is no emulation.`,
		Example: `  strata run --rm busybox echo hello
  strata run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /www
  strata run -it --rm -e TERM busybox sh
  strata run --rm -v /srv/data:/data:ro -w /data busybox ls`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, c, &f, detach, sigProxy, detachKeys, args)
		},
	}
	addCreateFlags(cmd.Flags(), &f)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background and print the container ID")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "pass SIGINT and SIGTERM to the container (false: they detach)")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "the key sequence that detaches from -it (default ctrl-p,ctrl-q)")
	return cmd
}

func runRun(cmd *cobra.Command, c *CLI, f *createFlags, detach, sigProxy bool, detachKeys string, args []string) error {
	engine.Tracef("cli: run")
	opts, err := f.options(cmd, args)
	if err != nil {
		return &ExitError{Code: 125, Err: err}
	}
	keys, err := engine.ParseDetachKeys(detachKeys)
	if err != nil {
		return &ExitError{Code: 125, Err: err}
	}
	if !detach && f.interactive && f.tty {
		if err := checkTTY(c.Stdin); err != nil {
			return err
		}
	}
	e, err := c.Engine(cmd.Context())
	engine.Tracef("cli: engine open")
	if err != nil {
		return &ExitError{Code: 125, Err: err}
	}
	if err := implicitPull(cmd, e, args[0], f); err != nil {
		return &ExitError{Code: 125, Err: err}
	}
	ro := engine.RunOptions{Detach: detach}
	ctx := cmd.Context()
	var stopProxy func()
	var proxy chan<- os.Signal
	var cidErr error
	ro.Started = func(ctr *engine.Container) {
		cidErr = f.everyday.writeCIDFile(ctr.ID)
		if !detach && sigProxy {
			stopProxy, proxy = proxySignals(e, ctr.ID)
		}
	}
	if !detach && sigProxy {
		// Signals go to the container (docker's sig-proxy), not to
		// detaching: main cancels the context on SIGINT and SIGTERM, so
		// attach on a context without that cancel.
		ctx = context.WithoutCancel(ctx)
	}
	if !detach {
		ro.Attach = engine.AttachOptions{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
		// The reader of run's output is gone (yes | head -1): the output
		// goes on to the log only, and the container is sent SIGPIPE, the
		// signal a process writing to that pipe itself would get, as a
		// Ctrl-C is passed on (Store.Interrupt). An attached run is
		// its container's monitor, so run cannot just die of the broken
		// pipe as docker's CLI does: that would leave the container
		// running unwatched, and a --rm one unremoved until it exits.
		// With --sig-proxy=false the container runs on, run with it.
		ro.Attach.OutputClosed = func(error) {
			if proxy != nil {
				select {
				case proxy <- syscall.SIGPIPE:
				default:
				}
			}
		}
		if f.interactive {
			ro.Attach.Stdin = c.Stdin
		}
		if f.tty {
			t := openTerminal(c.Stdin, cmd.OutOrStdout())
			defer t.restore()
			ro.Attach.Resize = t.sizes
			if f.interactive {
				// With a terminal the container has a monitor of its
				// own to run on after a detach (without one, this
				// process is its monitor).
				ro.Attach.DetachKeys = keys
			}
		}
	}
	ctr, code, err := e.RunContainer(ctx, args[0], opts, ro)
	engine.Tracef("cli: run done")
	if stopProxy != nil {
		stopProxy()
	}
	if errors.Is(err, engine.ErrDetached) {
		return nil // docker's run -it prints nothing on a detach
	}
	if err != nil {
		return &ExitError{Code: code, Err: err}
	}
	if cidErr != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "Error:", cidErr)
	}
	if detach {
		fmt.Fprintln(cmd.OutOrStdout(), ctr.ID)
		return nil
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// proxySignals passes SIGINT, SIGTERM and SIGHUP (the terminal is gone) to
// the container, and what is sent on the returned channel; if it is still
// running two seconds after one (a pid 1 without a handler ignores them),
// or on a second signal, it is killed. stop ends the proxy.
func proxySignals(e *engine.Engine, id string) (stop func(), send chan<- os.Signal) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		// Ends when stop closes done.
		ctx := context.Background()
		var timer <-chan time.Time
		got := 0
		for {
			select {
			case sig := <-sigs:
				got++
				if got == 1 {
					_ = e.InterruptContainer(ctx, id, sig.(syscall.Signal))
					timer = time.After(2 * time.Second)
					continue
				}
				_ = e.KillContainer(ctx, id, syscall.SIGKILL)
			case <-timer:
				_ = e.KillContainer(ctx, id, syscall.SIGKILL)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}, sigs
}
