package cli

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newPortCommand) }

func newPortCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Long: `Port prints a running container's published ports, one "PORT/PROTO -> HOST:PORT"
a line as docker does, or, given a port, only where it is published.`,
		Example: `  strata port web
  strata port web 80/tcp`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			ins, err := e.InspectContainer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			want := ""
			if len(args) == 2 {
				want = args[1]
				if !strings.Contains(want, "/") {
					want += "/tcp"
				}
			}
			keys := make([]string, 0, len(ins.NetworkSettings.Ports))
			for k := range ins.NetworkSettings.Ports {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			found := false
			for _, k := range keys {
				if want != "" && k != want {
					continue
				}
				for _, b := range ins.NetworkSettings.Ports[k] {
					found = true
					hp := net.JoinHostPort(b.HostIP, b.HostPort)
					if want != "" {
						fmt.Fprintln(cmd.OutOrStdout(), hp)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s\n", k, hp)
					}
				}
			}
			if want != "" && !found {
				return fmt.Errorf("no public port '%s' published for %s", want, strings.TrimPrefix(ins.Name, "/"))
			}
			return nil
		},
	}
}
