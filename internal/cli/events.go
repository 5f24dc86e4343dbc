package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newEventsCommand) }

func newEventsCommand(c *CLI) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the engine",
		Long: `Events prints what happens to containers, images and networks, as docker events
does, from the journal every strata command appends to (there is no daemon to
ask). Without --since or --until it prints the events from now on, as they
happen, until interrupted. --since starts from an earlier time (and follows on
unless --until is given); --until stops at a time, waiting for it if it is
still to come. Times are RFC 3339, Unix seconds or a duration before now (10m).
--filter narrows by type (container, image, network, volume), event (create,
start, die…), container (name or ID), image, label (KEY or KEY=VALUE), network
or volume: values of one key are alternatives, keys must all match. --format
takes a Go template over docker's message ({{json .}} prints it whole).`,
		Example: `  strata events
  strata events --since 10m --until 0s --filter type=container --filter event=die
  strata events --filter container=web --format '{{.Action}} {{.Actor.Attributes.exitCode}}'
  strata events --since 1h --until 0s --format '{{json .}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := engine.ParseEventFilter(filters)
			if err != nil {
				return err
			}
			now := time.Now()
			opts := engine.EventsOptions{Follow: true, Filter: filter}
			for _, t := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--since", since, &opts.Since}, {"--until", until, &opts.Until}} {
				if t.v == "" {
					continue
				}
				if *t.dst, err = engine.ParseLogTime(t.v, now); err != nil {
					return fmt.Errorf("%s %w", t.flag, err)
				}
			}
			if format != "" {
				// A template that does not parse fails before anything is read.
				if err := render[engine.EventMessage](io.Discard, format, "", nil, nil); err != nil {
					return err
				}
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return e.Events(cmd.Context(), opts, func(m engine.EventMessage) error {
				if format != "" {
					return render(out, format, "", []engine.EventMessage{m}, nil)
				}
				_, err := fmt.Fprintln(out, eventLine(m))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "show events since a time (RFC 3339, Unix seconds) or for a duration before now (10m)")
	cmd.Flags().StringVar(&until, "until", "", "stream events until a time (RFC 3339, Unix seconds) or a duration before now")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output by KEY=VALUE (type, event, container, image, label, network, volume)")
	cmd.Flags().StringVar(&format, "format", "", "format the output with a Go template ({{json .}}: docker's message)")
	return cmd
}

// eventLine is docker events' line: the time, type, action, actor ID and
// the attributes in key order.
func eventLine(m engine.EventMessage) string {
	t := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		t = time.Unix(m.Time, 0)
	}
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(m.Actor.Attributes)) {
		attrs = append(attrs, k+"="+m.Actor.Attributes[k])
	}
	line := fmt.Sprintf("%s %s %s %s", t.Format("2006-01-02T15:04:05.000000000Z07:00"), m.Type, m.Action, m.Actor.ID)
	if len(attrs) > 0 {
		line += " (" + strings.Join(attrs, ", ") + ")"
	}
	return line
}
