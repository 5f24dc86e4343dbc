package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newNetworkCommand) }

func newNetworkCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Long: `Network manages the networks containers join. "bridge" is the default one:
outbound TCP and UDP through pasta, reached by address only. A user-defined
network (network create) is a namespace of its own with a bridge, where
containers reach each other by container name, --network-alias and short ID
(written into each one's /etc/hosts as they join and leave) and cannot reach
containers on other networks; --internal ones have no outbound. Nothing is
added to the host's own network namespace.`,
		Example: `  strata network create app
  strata run -d --network app --name db busybox httpd -f -p 80
  strata run --rm --network app debian getent hosts db`,
	}
	cmd.AddCommand(newNetworkCreateCommand(c), newNetworkLsCommand(c), newNetworkInspectCommand(c),
		newNetworkRmCommand(c), newNetworkPruneCommand(c), newNetworkConnectCommand(c), newNetworkDisconnectCommand(c))
	return cmd
}

func newNetworkCreateCommand(c *CLI) *cobra.Command {
	var o engine.NetworkCreateOptions
	var driver string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Long: `Create records a user-defined network and prints its ID. Its namespace,
bridge and pasta are made when the first container joins and go when the
last leaves. Without --subnet it takes the first free of 172.18.0.0/16 …
172.31.0.0/16, then 192.168.N.0/20, as docker does.`,
		Example: `  strata network create app
  strata network create --subnet 10.89.0.0/24 --internal backend`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if driver != "bridge" {
				return fmt.Errorf("--driver %s: only bridge is supported", driver)
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			o.Name = args[0]
			n, err := e.CreateNetwork(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Subnet, "subnet", "", "the network's IPv4 subnet in CIDR form")
	cmd.Flags().BoolVar(&o.Internal, "internal", false, "no outbound access")
	cmd.Flags().StringVarP(&driver, "driver", "d", "bridge", "driver (bridge only)")
	return cmd
}

type networkRow struct {
	ID, Name, Driver, Scope, Subnet, CreatedAt string
	Internal                                   bool
}

func newNetworkLsCommand(c *CLI) *cobra.Command {
	var format string
	var quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Long:    `Ls lists the networks: bridge, host and none, then the user-defined ones.`,
		Example: `  strata network ls
  strata network ls --format '{{.Name}} {{.Subnet}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			nets, err := e.ListNetworks(cmd.Context())
			if err != nil {
				return err
			}
			var rows []networkRow
			for _, n := range nets {
				created := ""
				if !n.Created.IsZero() {
					created = n.Created.Format("2006-01-02 15:04:05 -0700 MST")
				}
				rows = append(rows, networkRow{ID: shortHex(n.ID, !noTrunc), Name: n.Name, Driver: n.Driver, Scope: "local",
					Subnet: n.Subnet, Internal: n.Internal, CreatedAt: created})
			}
			if quiet {
				format = "{{.ID}}"
			}
			return render(cmd.OutOrStdout(), format, "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows,
				map[string]string{"ID": "NETWORK ID"})
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	return cmd
}

func newNetworkInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short:   "Display detailed information on one or more networks",
		Long:    `Inspect prints networks in docker's shape: IPAM, Internal, and the containers attached now with their addresses.`,
		Example: `  strata network inspect app --format '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\n"}}{{end}}'`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return inspectEach(cmd, format, args, e.InspectNetwork)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	return cmd
}

func newNetworkRmCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Long:    `Rm removes networks no container uses; one in use is refused, naming its containers.`,
		Example: `  strata network rm app`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, a := range args {
				if err := e.RemoveNetwork(cmd.Context(), a); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), a)
			}
			return errors.Join(errs...)
		},
	}
	return cmd
}

func newNetworkPruneCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove all unused networks",
		Long:    `Prune removes every user-defined network no container is configured with.`,
		Example: `  strata network prune -f`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			names, err := e.PruneNetworks(cmd.Context())
			if len(names) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted Networks:\n%s\n", strings.Join(names, "\n"))
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (there is no prompt)")
	return cmd
}

func newNetworkConnectCommand(c *CLI) *cobra.Command {
	var aliases []string
	cmd := &cobra.Command{
		Use:     "connect [OPTIONS] NETWORK CONTAINER",
		Short:   "Connect a container to a network",
		Long:    `Connect joins a container to one more network: at once if it runs (another interface, eth1 and on), and at each start.`,
		Example: `  strata network connect --alias cache backend redis`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return e.ConnectNetwork(cmd.Context(), args[0], args[1], aliases)
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "add a network-scoped alias for the container")
	return cmd
}

func newNetworkDisconnectCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "disconnect [OPTIONS] NETWORK CONTAINER",
		Short:   "Disconnect a container from a network",
		Long:    `Disconnect takes a container off a network: at once if it runs, and at each start.`,
		Example: `  strata network disconnect backend redis`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return e.DisconnectNetwork(cmd.Context(), args[0], args[1])
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "accepted for docker's sake")
	return cmd
}
