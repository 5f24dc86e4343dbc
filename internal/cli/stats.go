package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newStatsCommand) }

// statsRow is one row of stats, with docker's template fields (and its
// JSON names, in its order).
type statsRow struct {
	BlockIO   string `json:"BlockIO"`
	CPUPerc   string `json:"CPUPerc"`
	Container string `json:"Container"`
	ID        string `json:"ID"`
	MemPerc   string `json:"MemPerc"`
	MemUsage  string `json:"MemUsage"`
	Name      string `json:"Name"`
	NetIO     string `json:"NetIO"`
	PIDs      string `json:"PIDs"`
}

const statsTable = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeaders = map[string]string{
	"ID": "CONTAINER ID", "Container": "CONTAINER", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
	"MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// statsInterval is the time between two samples: docker's.
const statsInterval = time.Second

func newStatsCommand(c *CLI) *cobra.Command {
	var noStream, noTrunc, all bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		Long: `Stats shows the resource usage of running containers, as docker stats does: CPU %
(the container's share of the host's CPU time over the last second, 100% per
CPU), memory use (less inactive file cache) against its limit (the host's
memory when it has none), network bytes received and sent (its interfaces
other than lo), bytes read and written to block devices, and the number of
processes. The values come from the container's cgroup (v1 or v2) and network
namespace.

Without arguments it shows every running container (every container with -a);
one that is not running has a row of zeros. It redraws the table every
second until interrupted; --no-stream prints it once (after one second, so CPU
% has an interval to measure). --format takes a Go template over .Container,
.ID, .Name, .CPUPerc, .MemUsage, .MemPerc, .NetIO, .BlockIO and .PIDs, "table
TEMPLATE", or json (one object a line).`,
		Example: `  strata stats --no-stream
  strata stats --no-stream --format '{{.Name}}: {{.MemUsage}}' web
  strata stats --no-stream --format json web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return runStats(cmd.Context(), e, cmd.OutOrStdout(), statsOptions{refs: args, all: all, format: format, noStream: noStream, noTrunc: noTrunc})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default: the running ones)")
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate IDs")
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	return cmd
}

// statsOptions are stats's arguments and flags.
type statsOptions struct {
	refs                   []string
	all, noStream, noTrunc bool
	format                 string
}

func runStats(ctx context.Context, e *engine.Engine, w io.Writer, o statsOptions) error {
	refs, format, noStream, noTrunc := o.refs, o.format, o.noStream, o.noTrunc
	prev, err := e.ContainerStats(ctx, refs, o.all)
	if err != nil && (len(prev) == 0 || noStream) {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
		cur, err := e.ContainerStats(ctx, refs, o.all)
		if err != nil && len(cur) == 0 && len(refs) > 0 {
			return err
		}
		rows := statsRows(prev, cur, noTrunc)
		if !noStream {
			// Docker's redraw: clear the screen, cursor home.
			fmt.Fprint(w, "\033[2J\033[H")
		}
		if rerr := render(w, format, statsTable, rows, statsHeaders); rerr != nil {
			return rerr
		}
		if noStream {
			return err
		}
		prev = cur
	}
}

// statsRows pairs each sample with its previous one for CPU %.
func statsRows(prev, cur []engine.ContainerStats, noTrunc bool) []statsRow {
	before := map[string]engine.ContainerStats{}
	for _, p := range prev {
		before[p.ID] = p
	}
	rows := make([]statsRow, 0, len(cur))
	for _, s := range cur {
		p, ok := before[s.ID]
		cpu := 0.0
		if ok {
			cpu = cpuPercent(p, s)
		}
		mem := 0.0
		if s.MemLimit > 0 {
			mem = float64(s.MemUsage) / float64(s.MemLimit) * 100
		}
		id := s.ID
		if !noTrunc && len(id) > 12 {
			id = id[:12]
		}
		ref := s.Ref
		if ref == s.ID {
			ref = id
		}
		rows = append(rows, statsRow{
			Container: ref, ID: id, Name: s.Name,
			CPUPerc:  fmt.Sprintf("%.2f%%", cpu),
			MemUsage: units.BytesSize(float64(s.MemUsage)) + " / " + units.BytesSize(float64(s.MemLimit)),
			MemPerc:  fmt.Sprintf("%.2f%%", mem),
			NetIO:    humanSize(int64(s.NetRx)) + " / " + humanSize(int64(s.NetTx)),
			BlockIO:  humanSize(int64(s.BlkRead)) + " / " + humanSize(int64(s.BlkWrite)),
			PIDs:     fmt.Sprint(s.Pids),
		})
	}
	return rows
}

// cpuPercent is docker's CPU %: the container's share of the host's CPU
// time between two samples, times the number of CPUs.
func cpuPercent(prev, cur engine.ContainerStats) float64 {
	if cur.CPUUsage < prev.CPUUsage || cur.SystemUsage <= prev.SystemUsage {
		return 0
	}
	return float64(cur.CPUUsage-prev.CPUUsage) / float64(cur.SystemUsage-prev.SystemUsage) * float64(cur.OnlineCPUs) * 100
}
