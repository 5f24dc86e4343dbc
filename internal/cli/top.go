package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newTopCommand) }

func newTopCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Long: `Top lists a running container's processes as the host's ps sees them (host
PIDs), as docker top does: ps -ef unless other ps options are given, cut to
the container's processes by the PID column.`,
		Example: `  strata top web
  strata top web -o pid,user,args`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			titles, procs, err := e.TopContainer(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, strings.Join(titles, "\t"))
			for _, p := range procs {
				fmt.Fprintln(tw, strings.Join(p, "\t"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows CONTAINER is ps's
	return cmd
}
