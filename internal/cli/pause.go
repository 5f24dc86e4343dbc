package cli

import (
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newPauseCommand, newUnpauseCommand) }

func newPauseCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Long: `Pause freezes every process of each running container with the cgroup freezer
(runc pause); ps shows it "(Paused)" until strata unpause. Prints each name as
given.`,
		Example: `  strata pause web
  strata unpause web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error { return s.PauseContainer(cmd.Context(), ref) })
		},
	}
}

func newUnpauseCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:     "unpause CONTAINER [CONTAINER...]",
		Short:   "Unpause all processes within one or more containers",
		Long:    `Unpause thaws containers frozen by strata pause (runc resume). Prints each name as given.`,
		Example: `  strata unpause web`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error { return s.UnpauseContainer(cmd.Context(), ref) })
		},
	}
}
