package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() {
	commands = append(commands, newAttachCommand)
	containerVerbs = append(containerVerbs, newAttachCommand)
}

func newAttachCommand(c *CLI) *cobra.Command {
	var detachKeys string
	var noStdin, sigProxy bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Long: `Attach connects the terminal to a running container's streams through its
monitor, as docker attach does: its output from now on (the log keeps what
came before), and the terminal's input to the container's stdin (unless
--no-stdin). It ends with the container, exiting with its status, or when the
detach keys are typed (Ctrl-P Ctrl-Q unless --detach-keys says otherwise:
comma-separated letters or ctrl-<x>), which leaves the container running and
prints "read escape sequence". Without a terminal in the container, SIGINT and
SIGTERM are passed to it (--sig-proxy=false: they end the attach only).
A container whose attached strata run (without -d or -t) still holds its
streams cannot be attached to.`,
		Example: `  strata run -dit --name box busybox sh
  strata attach box
  strata attach --detach-keys ctrl-x,x box`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := engine.ParseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			ctr, err := e.Container(args[0])
			if err != nil {
				return err
			}
			tty := ctr.Options.Tty
			if tty && !noStdin {
				if err := checkTTY(c.Stdin); err != nil {
					return err
				}
			}
			o := engine.AttachOptions{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), DetachKeys: keys}
			if !noStdin {
				o.Stdin = c.Stdin
			}
			ctx := cmd.Context()
			if tty {
				t := openTerminal(c.Stdin, cmd.OutOrStdout())
				defer t.restore()
				o.Resize = t.sizes
			} else if sigProxy {
				// Signals go to the container, not to ending the attach.
				ctx = context.WithoutCancel(ctx)
				stop, _ := proxySignals(e, ctr.ID)
				defer stop()
			}
			code, err := e.AttachContainer(ctx, ctr.ID, o)
			if errors.Is(err, engine.ErrDetached) {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return &ExitError{Code: 1}
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "the key sequence that detaches (default ctrl-p,ctrl-q)")
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach standard input")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "pass received signals to the container (without a terminal)")
	return cmd
}
