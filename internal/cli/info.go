package cli

import (
	"fmt"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newInfoCommand) }

func newInfoCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Long: `Info shows the store and the host as docker info does, in the sections that
apply to Strata: the containers (running, paused, stopped), the images, the
storage driver and root dir, the cgroup driver and version, the runtime, the
kernel, the OS, CPUs and memory. --format takes a Go template over the same
fields (.Containers, .ContainersRunning, .Images, .Driver, .RootDir,
.CgroupVersion, .KernelVersion, .OperatingSystem, .NCPU, .MemTotal ...) or
"json".`,
		Example: `  strata info
  strata info --format '{{.ContainersRunning}} running'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			in, err := e.Info(cmd.Context())
			if err != nil {
				return err
			}
			if format != "" {
				return render(cmd.OutOrStdout(), format, "", []engine.Info{in}, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), `Server:
 Containers: %d
  Running: %d
  Paused: %d
  Stopped: %d
 Images: %d
 Server Version: %s
 Storage Driver: %s
 Logging Driver: %s
 Cgroup Driver: %s
 Cgroup Version: %s
 Runtimes: runc
 Default Runtime: %s
 Kernel Version: %s
 Operating System: %s
 OSType: %s
 Architecture: %s
 CPUs: %d
 Total Memory: %s
 Name: %s
 Strata Root Dir: %s
`, in.Containers, in.ContainersRunning, in.ContainersPaused, in.ContainersStopped, in.Images, in.ServerVersion,
				in.Driver, in.LoggingDriver, in.CgroupDriver, in.CgroupVersion, in.DefaultRuntime, in.KernelVersion,
				in.OperatingSystem, in.OSType, in.Architecture, in.NCPU, units.BytesSize(float64(in.MemTotal)), in.Name, in.RootDir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output with a Go template, or json")
	return cmd
}
