package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newPullCommand) }

func newPullCommand(c *CLI) *cobra.Command {
	var opts engine.PullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Long: `Pull fetches an image from the registry its name points at (docker.io when
the name has no registry part) and unpacks its layers, so it is ready to run.

Layers already unpacked here print "Already exists" and are not fetched. The others
are fetched three at a time, each verified against its digest before anything of it
is kept, and unpacked in order as soon as the layer below is done. A pull that is
interrupted (Ctrl-C, a dropped connection, a killed process) keeps the bytes it
received; the next pull asks the registry only for the rest. Two pulls running at
once fetch a layer they share once.

From a multi-platform index the manifest of this machine's platform is chosen, or
that of --platform; when the index has none, the error lists the platforms it has.

Registries on localhost and 127.0.0.0/8, and those named in
$STRATA_INSECURE_REGISTRIES (comma-separated host[:port] or CIDR) or in the
"insecure-registries" of /etc/docker/daemon.json, are reached over plain HTTP; the
others over HTTPS, trusting the system CAs and /etc/docker/certs.d/HOST/*.crt
(or /etc/strata/certs.d/HOST). Credentials come from "strata login" (docker's
~/.docker/config.json, and its credential helpers).

Progress goes to standard error, a redrawn line per layer on a terminal and a line
per state change otherwise; the image's full name is printed on standard output.`,
		Example: `  strata pull localhost:5000/app:v1
  strata pull --platform linux/arm64 registry.example.com/base@sha256:4c3f...
  strata pull -a localhost:5000/app
  STRATA_INSECURE_REGISTRIES=10.0.0.5:5000 strata pull 10.0.0.5:5000/tools -q`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := engine.PullName(args[0], opts.All)
			if err != nil {
				return err
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			if err := pullWithProgress(cmd, e, args[0], opts); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.All, "all-tags", "a", false, "pull every tag of the repository")
	f.StringVar(&opts.Platform, "platform", "", "pull this platform's image from a multi-platform index (os/arch[/variant])")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the image name, no progress")
	return cmd
}
