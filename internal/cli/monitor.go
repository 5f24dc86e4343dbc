package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newMonitorCommand, newStandbyCommand, newInitReaperCommand) }

// newMonitorCommand is the per-container monitor the container store
// starts (strata container-monitor DIR): hidden, not for people.
func newMonitorCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:    "container-monitor DIR",
		Short:  "Run a container's monitor (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return engine.MonitorMain(args[0])
		},
	}
}

// newStandbyCommand is an attached run's standby (strata
// container-standby DIR CONFIG), which takes the container over if the
// run is killed: hidden, not for people.
func newStandbyCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:    engine.StandbyCommand + " DIR CONFIG",
		Short:  "Stand by to take over an attached run's container (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return engine.StandbyMain(args[0], args[1])
		},
	}
}

// newInitReaperCommand is --init's pid 1 inside a container (strata
// init-reaper -- CMD...), bind-mounted at /sbin/strata-init: hidden.
func newInitReaperCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:                "init-reaper -- COMMAND [ARG...]",
		Short:              "Run as a container's init (internal)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// InitMain exits with the command's status; it returns only
			// when the command could not start.
			if err := engine.InitMain(args); err != nil {
				return &ExitError{Code: 127, Err: err}
			}
			return nil
		},
	}
}
