package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newLogsCommand) }

func newLogsCommand(c *CLI) *cobra.Command {
	var o engine.LogsOptions
	var tail, since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Long: `Logs prints what a container wrote, its standard output to standard output and
its standard error to standard error, from the JSON-lines log its monitor keeps
(docker's json-file format, so the log survives the CLI and every restart).
-f keeps following until the container exits; --tail N shows only the last N
lines; -t prefixes each line with its RFC 3339 time. --since and --until keep the
lines written in a window: each takes an RFC 3339 time (or a date, or a date and
time without a zone, read as local time), Unix seconds, or a duration before now
such as 10m; -f stops at --until.`,
		Example: `  strata logs web
  strata logs -f --tail 10 web
  strata logs -t job
  strata logs --since 10m --until 2m web
  strata logs --since 2026-11-23T18:00:00Z job`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail != "all" && tail != "" {
				n, err := strconv.Atoi(tail)
				if err != nil {
					return fmt.Errorf("--tail %q: want a number or \"all\": %w", tail, errdefs.ErrInvalidArgument)
				}
				o.Tail, o.TailSet = n, n >= 0
			}
			now := time.Now()
			for _, tv := range []struct {
				flag, v string
				t       *time.Time
			}{{"--since", since, &o.Since}, {"--until", until, &o.Until}} {
				if tv.v == "" {
					continue
				}
				t, err := engine.ParseLogTime(tv.v, now)
				if err != nil {
					return fmt.Errorf("%s %w", tv.flag, err)
				}
				*tv.t = t
			}
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return s.ContainerLogs(cmd.Context(), args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "follow log output")
	cmd.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	cmd.Flags().StringVar(&since, "since", "", "show lines written since a time (RFC 3339, Unix seconds) or for a duration before now (10m)")
	cmd.Flags().StringVar(&until, "until", "", "show lines written before a time (RFC 3339, Unix seconds) or a duration before now (2m)")
	return cmd
}
