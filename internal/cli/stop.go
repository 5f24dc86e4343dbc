package cli

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newStopCommand) }

func newStopCommand(c *CLI) *cobra.Command {
	var f stopFlags
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Long: `Stop sends each container its stop signal (--signal, else the container's
--stop-signal, else the image's STOPSIGNAL, else SIGTERM), waits for it to
exit (--timeout seconds, else the container's --stop-timeout, else 10; -1
waits forever), then kills it with SIGKILL. The container's filesystem stays
until strata rm. A container that is not running is not an error. Prints
each name as given.`,
		Example: `  strata stop web
  strata stop -t 0 web db
  strata stop --signal SIGINT web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd.Flags())
			if err != nil {
				return err
			}
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error {
				return s.StopContainer(cmd.Context(), ref, o)
			})
		},
	}
	addStopFlags(cmd.Flags(), &f)
	return cmd
}

// stopFlags are stop and restart's --signal and --timeout (docker 28's
// spelling; --time, the older one, is kept hidden).
type stopFlags struct {
	signal  string
	timeout int
}

func addStopFlags(fs *pflag.FlagSet, f *stopFlags) {
	fs.StringVarP(&f.signal, "signal", "s", "", "signal to send (default: the container's stop signal)")
	fs.IntVarP(&f.timeout, "timeout", "t", 0, "seconds to wait before killing the container (default: the container's --stop-timeout, else 10)")
	fs.IntVar(&f.timeout, "time", 0, "seconds to wait before killing the container")
	_ = fs.MarkDeprecated("time", "use --timeout")
}

func (f *stopFlags) options(fs *pflag.FlagSet) (engine.StopOptions, error) {
	var o engine.StopOptions
	if f.signal != "" {
		sig, err := engine.ParseSignal(f.signal)
		if err != nil {
			return o, err
		}
		o.Signal = sig
	}
	if fs.Changed("timeout") || fs.Changed("time") {
		d := time.Duration(f.timeout) * time.Second
		o.Timeout = &d
	}
	return o, nil
}
