package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newStartCommand) }

func newStartCommand(c *CLI) *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Long: `Start mounts a created or exited container's filesystem, with every change it
made so far, and starts its command again under a new monitor. It prints each
container's name as given. With -a it streams the container's output instead
and exits with its status (-i also sends standard input, for a container made
with -i).`,
		Example: `  strata start web
  strata start -a job`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			if attach || interactive {
				if len(args) > 1 {
					return fmt.Errorf("start: you cannot attach to more than one container")
				}
				ctr, err := e.Container(args[0])
				if err != nil {
					return err
				}
				ro := engine.RunOptions{Attach: engine.AttachOptions{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}}
				if interactive {
					ro.Attach.Stdin = c.Stdin
				}
				if ctr.Options.Tty {
					t := openTerminal(c.Stdin, cmd.OutOrStdout())
					defer t.restore()
					ro.Attach.Resize = t.sizes
				}
				stop := func() {}
				ro.Started = func(ctr *engine.Container) { stop, _ = proxySignals(e, ctr.ID) }
				// Signals go to the container, so the attach is on a
				// context without main's cancel on SIGINT and SIGTERM.
				code, err := e.StartAttached(context.WithoutCancel(cmd.Context()), ctr.ID, ro)
				stop()
				if err != nil {
					// 125, or 126/127 for a process that could not start.
					return &ExitError{Code: code, Err: err}
				}
				if code != 0 {
					return &ExitError{Code: code}
				}
				return nil
			}
			return eachContainer(cmd, args, func(ref string) error {
				return e.StartContainer(cmd.Context(), ref)
			})
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "attach standard output and error, and exit with the container's status")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach the container's standard input")
	return cmd
}
