package cli

import (
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newRenameCommand) }

func newRenameCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Long: `Rename gives a container, running or not, a new name, as docker rename does.
The old name is free for another container at once; a name another container
holds is refused. The hostname of a container made under the old name stays.`,
		Example: `  strata rename web web-old
  strata container rename web-old web`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return e.RenameContainer(cmd.Context(), args[0], args[1])
		},
	}
}
