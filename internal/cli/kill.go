package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newKillCommand) }

func newKillCommand(c *CLI) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Long: `Kill sends a signal (SIGKILL unless -s says otherwise) to each running
container's main process; SIGKILL goes to every process in it. A signal is a
name with or without SIG, or a number. Prints each name as given.`,
		Example: `  strata kill web
  strata kill -s HUP web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := engine.ParseSignal(signal)
			if err != nil {
				return err
			}
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				return s.KillContainer(cmd.Context(), ref, sig)
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "signal to send")
	return cmd
}
