package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newUpdateCommand) }

func newUpdateCommand(c *CLI) *cobra.Command {
	var f resourceFlags
	var restart string
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Long: `Update changes the resource limits and the restart policy of containers, as
docker update does. Resource limits given are
given are recorded and, on a running container, applied to its cgroup at once
(runc update); the others stay as they are. The values are checked as run
checks them (a --memory above the container's --memory-swap needs a new
--memory-swap too); a refused update changes nothing. A limit is lifted with
-1 (--pids-limit -1). A new --restart policy applies from the container's next
exit. Prints each container as given.`,
		Example: `  strata update --memory 256m --memory-swap 512m web
  strata update --cpus 1.5 --pids-limit 200 web worker
  strata update --restart unless-stopped web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return fmt.Errorf("update: give one or more flags (--memory, --cpus, --pids-limit…; see strata update --help): %w", errdefs.ErrInvalidArgument)
			}
			// Parse once before touching any container, so a bad value
			// changes nothing anywhere.
			if err := f.apply(cmd.Flags(), &engine.Resources{}); err != nil {
				return err
			}
			setRestart := cmd.Flags().Changed("restart")
			policy, err := engine.ParseRestartPolicy(restart)
			if err != nil {
				return err
			}
			resources := cmd.Flags().NFlag() > 1 || !setRestart
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				var err error
				if resources {
					err = e.UpdateContainer(cmd.Context(), ref, func(r *engine.Resources) error {
						return f.apply(cmd.Flags(), r)
					})
				}
				if err == nil && setRestart {
					err = e.SetRestartPolicy(cmd.Context(), ref, policy)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
			}
			return errors.Join(errs...)
		},
	}
	addResourceFlags(cmd.Flags(), &f, true)
	cmd.Flags().StringVar(&restart, "restart", "", `restart policy when the container exits: "no", "always", "unless-stopped" or "on-failure[:max-retries]"`)
	return cmd
}
