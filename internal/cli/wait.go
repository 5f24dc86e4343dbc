package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newWaitCommand) }

func newWaitCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Long: `Wait blocks until each container is no longer running and prints its exit
status, one line per container, as docker wait does. A created container is
waited for until it has been started and has exited.`,
		Example: `  strata wait job
  code=$(strata wait job)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, a := range args {
				code, err := s.WaitContainer(cmd.Context(), a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), code)
			}
			return errors.Join(errs...)
		},
	}
}
