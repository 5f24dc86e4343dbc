package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newDiffCommand) }

func newDiffCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Long: `Diff lists what a container changed in its image's filesystem, one path a line
as docker diff does: A added, C changed, D deleted. On overlay only the
container's upper layer is read (a whiteout is a D; a file copied up is a C),
never the image's layers below, so it costs what the container wrote.`,
		Example: `  strata diff web`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			changes, err := s.ContainerDiff(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintln(cmd.OutOrStdout(), ch)
			}
			return nil
		},
	}
}
