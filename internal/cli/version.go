package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newVersionCommand) }

// versionOut is docker version's shape: a client and a server. Strata has
// no daemon, so both are this binary; the server's API versions are those
// strata system service speaks.
type versionOut struct {
	Client clientVersion
	Server serverVersion
}

type clientVersion struct {
	Version, APIVersion, GoVersion, Os, Arch string
}

type serverVersion struct {
	Version, APIVersion, MinAPIVersion, GoVersion, Os, Arch, KernelVersion string
}

func newVersionCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Strata version information",
		Long: `Version prints the versions of Strata, as docker version does: a Client and a
Server section, both this one binary since Strata has no daemon. The API
version is the Docker Engine API that "strata system service" serves (with the
oldest it accepts). --format takes a Go template over .Client and .Server
(Version, APIVersion, GoVersion, Os, Arch; the server's MinAPIVersion and
KernelVersion) or "json".`,
		Example: `  strata version
  strata version --format '{{.Server.Version}}'
  strata --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := engine.Version()
			out := versionOut{
				Client: clientVersion{Version: v.Version, APIVersion: v.APIVersion, GoVersion: v.GoVersion, Os: v.Os, Arch: v.Arch},
				Server: serverVersion{Version: v.Version, APIVersion: v.APIVersion, MinAPIVersion: v.MinAPIVersion,
					GoVersion: v.GoVersion, Os: v.Os, Arch: v.Arch, KernelVersion: v.KernelVersion},
			}
			if format != "" {
				return render(cmd.OutOrStdout(), format, "", []versionOut{out}, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), `Client:
 Version:           %s
 API version:       %s
 Go version:        %s
 OS/Arch:           %s/%s

Server: Strata (daemonless: this binary)
 Engine:
  Version:          %s
  API version:      %s (minimum version %s)
  Go version:       %s
  OS/Arch:          %s/%s
  Kernel Version:   %s
`, v.Version, v.APIVersion, v.GoVersion, v.Os, v.Arch, v.Version, v.APIVersion, v.MinAPIVersion, v.GoVersion, v.Os, v.Arch, v.KernelVersion)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output with a Go template, or json")
	return cmd
}
