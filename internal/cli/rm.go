package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newRmCommand) }

func newRmCommand(c *CLI) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Long: `Rm deletes containers: the writable layer with every change, the mounts, the
runc state, the logs and the name. A running container is refused unless -f,
which kills it first (and is quiet about a container that is not there). The image's layers stay (strata rmi removes images).
-v also removes the anonymous volumes made for the container (an image's VOLUME,
-v /path) that no other container uses; named volumes stay.
Prints each name as given.`,
		Example: `  strata rm job
  strata rm -f web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				remove := s.RemoveContainer
				if volumes {
					remove = s.RemoveContainerVolumes
				}
				err := remove(cmd.Context(), ref, force)
				if force && errdefs.IsNotFound(err) {
					return nil // rm -f of what is not there is done, as docker's
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill and remove a running container")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove the anonymous volumes of the container")
	return cmd
}
