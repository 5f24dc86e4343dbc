package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newBootCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "boot",
		Short: "Start the containers whose restart policy says so, after the host starts",
		Long: `Boot does for Strata, which has no daemon, what dockerd does when it starts:
every container whose monitor is gone (a reboot, a kill) is settled as exited,
and those with --restart always, or unless-stopped and not stopped by the user,
are started again. Containers that run, that were never started, or with
another policy are left as they are, so running it twice changes nothing.
It prints the name of each container it starts. Run it from a systemd unit at
boot (see the README: strata-restart.service).`,
		Example: `  strata system boot`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			started, err := e.Boot(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, r := range started {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("start %s: %w", r.Name, r.Err))
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), r.Name)
			}
			return errors.Join(errs...)
		},
	}
}
