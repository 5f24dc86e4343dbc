package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newCreateCommand) }

func newCreateCommand(c *CLI) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Long: `Create makes a container from a local image without starting it, and prints
its ID, as docker create does: a record, a name, and a copy-on-write snapshot
on top of the image's layers (nothing is copied or mounted yet). Start it with
strata start; it takes run's flags (see strata run --help).`,
		Example: `  strata create --name web -p 8080:80 busybox httpd -f -p 80 -h /www
  strata start web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(cmd, args)
			if err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			if err := implicitPull(cmd, e, args[0], &f); err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			ctr, err := e.CreateContainer(cmd.Context(), args[0], opts)
			if err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			if err := f.everyday.writeCIDFile(ctr.ID); err != nil {
				return &ExitError{Code: 125, Err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), ctr.ID)
			return nil
		},
	}
	addCreateFlags(cmd.Flags(), &f)
	return cmd
}
