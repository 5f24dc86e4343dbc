package cli

import (
	"time"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newStopCommand) }

func newStopCommand(c *CLI) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Long: `Stop sends the image's STOPSIGNAL (SIGTERM unless the image says otherwise) to
each container, waits up to --time seconds for it to exit, then kills it with
SIGKILL. The container's filesystem stays until strata rm. A container that is
not running is not an error. Prints each name as given.`,
		Example: `  strata stop web
  strata stop -t 0 web db`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				return s.StopContainer(cmd.Context(), ref, time.Duration(timeout)*time.Second)
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	return cmd
}
