package cli

import (
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newRestartCommand) }

func newRestartCommand(c *CLI) *cobra.Command {
	var f stopFlags
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Long: `Restart stops each container as strata stop does (STOPSIGNAL, then SIGKILL after
--timeout seconds) and starts it again in the background, keeping its filesystem.
Prints each name as given.`,
		Example: `  strata restart web
  strata restart -t 2 web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd.Flags())
			if err != nil {
				return err
			}
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				return s.RestartContainer(cmd.Context(), ref, o)
			})
		},
	}
	addStopFlags(cmd.Flags(), &f)
	return cmd
}
