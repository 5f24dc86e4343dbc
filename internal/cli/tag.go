package cli

import (
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newTagCommand) }

func newTagCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Long: `Tag gives an image another name. Names follow docker's grammar: "busybox" means
docker.io/library/busybox:latest, and a name with a registry host
(localhost:5000/app:v1) is where push will send it. Tagging copies nothing.`,
		Example: `  strata tag busybox localhost:5000/tools/busybox:1.36
  strata tag 3f57d9401f8d myimage:dev`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return e.Tag(cmd.Context(), args[0], args[1])
		},
	}
}
