package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/runtime"
)

func init() { commands = append(commands, newMonitorCommand, newInitReaperCommand) }

// newMonitorCommand is the per-container monitor the container store
// starts (strata container-monitor DIR): hidden, not for people.
func newMonitorCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:    "container-monitor DIR",
		Short:  "Run a container's monitor (internal)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runtime.MonitorMain(args[0])
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
			if err := runtime.InitMain(args); err != nil {
				return &ExitError{Code: 127, Err: err}
			}
			return nil
		},
	}
}
