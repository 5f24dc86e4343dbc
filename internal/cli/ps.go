package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newPsCommand) }

// psRow is one row of ps, with docker's template fields.
type psRow struct {
	ID         string
	Image      string
	Command    string
	CreatedAt  string
	RunningFor string
	Status     string
	State      string
	Ports      string
	Names      string
	Size       string
	ExitCode   int
}

func newPsCommand(c *CLI) *cobra.Command {
	var all, quiet, size, noTrunc, latest bool
	var last int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Long: `Ps lists the running containers (every container with -a), newest first, with
docker's columns: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES.
The state comes from each container's monitor, checked against runc, so it is
right even after the monitor or the CLI was killed. -s adds the size of each
container's own writable layer. --format takes json or a Go template over
.ID, .Image, .Command, .CreatedAt, .RunningFor, .Status, .State, .Ports,
.Names, .Size and .ExitCode. -f filters by id (prefix), name (substring),
status, ancestor (the image as given to run), exited (the exit code), label
(KEY or KEY=VALUE) and health (starting, healthy, unhealthy or none);
several values of one key match either, different keys must all match.`,
		Example: `  strata ps
  strata ps -a -s
  strata ps -aq -f status=exited
  strata ps --format '{{.Names}}\t{{.Status}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			match, err := psFilter(filters)
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			list, err := s.ListContainers(cmd.Context(), engine.ContainerListOptions{All: all || last > 0, Size: size})
			if err != nil {
				return err
			}
			kept := list[:0]
			for _, r := range list {
				if match(r) {
					kept = append(kept, r)
				}
			}
			list = kept
			if last > 0 && len(list) > last {
				list = list[:last]
			}
			w := cmd.OutOrStdout()
			if quiet {
				for _, r := range list {
					fmt.Fprintln(w, shortHex(r.ID, !noTrunc))
				}
				return nil
			}
			rows := make([]psRow, 0, len(list))
			for _, r := range list {
				var ports []string
				for _, p := range r.Ports {
					ports = append(ports, p.String())
				}
				cmdline := r.Command
				if !noTrunc && len(cmdline) > 22 {
					cmdline = cmdline[:19] + "…\""
				}
				row := psRow{
					ID: shortHex(r.ID, !noTrunc), Image: r.Image, Command: cmdline,
					CreatedAt:  r.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
					RunningFor: since(r.Created), Status: r.Status, State: string(r.State),
					Ports: strings.Join(ports, ", "), Names: r.Name, ExitCode: r.ExitCode,
				}
				if size {
					row.Size = humanSize(r.SizeRw)
				}
				rows = append(rows, row)
			}
			def := "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
			if size {
				def += "\t{{.Size}}"
			}
			return render(w, format, def, rows, map[string]string{
				"ID": "CONTAINER ID", "RunningFor": "CREATED", "CreatedAt": "CREATED AT", "Names": "NAMES",
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "display the size of each container's writable layer")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "format output: json or a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: id=, name=, status=created|running|paused|exited, ancestor=IMAGE, exited=CODE, label=KEY[=VALUE], health=starting|healthy|unhealthy|none")
	cmd.Flags().IntVarP(&last, "last", "n", 0, "show the n last created containers (any state)")
	cmd.Flags().BoolVarP(&latest, "latest", "l", false, "show the latest created container (any state)")
	return cmd
}

// psFilter turns ps's -f KEY=VALUE flags into a predicate: values of one key
// are alternatives, different keys must all match (docker's rules).
func psFilter(filters []string) (func(engine.ContainerSummary) bool, error) {
	byKey := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("filter %q: want KEY=VALUE: %w", f, errdefs.ErrInvalidArgument)
		case !slices.Contains([]string{"id", "name", "status", "ancestor", "exited", "label", "health"}, k):
			return nil, fmt.Errorf("invalid filter '%s' (want id, name, status, ancestor, exited, label or health): %w", k, errdefs.ErrInvalidArgument)
		}
		if k == "status" && !validStatus(v) {
			return nil, fmt.Errorf("invalid filter 'status=%s' (want created, restarting, running, removing, paused, exited or dead): %w", v, errdefs.ErrInvalidArgument)
		}
		if k == "health" && !slices.Contains([]string{"starting", "healthy", "unhealthy", "none"}, v) {
			return nil, fmt.Errorf("invalid filter 'health=%s' (want starting, healthy, unhealthy or none): %w", v, errdefs.ErrInvalidArgument)
		}
		byKey[k] = append(byKey[k], v)
	}
	one := func(k, v string, r engine.ContainerSummary) bool {
		switch k {
		case "id":
			return strings.HasPrefix(r.ID, v)
		case "name":
			return strings.Contains(r.Name, v)
		case "status":
			return string(r.State) == v
		case "ancestor":
			return r.Image == v || strings.TrimSuffix(r.Image, ":latest") == strings.TrimSuffix(v, ":latest")
		case "exited":
			return r.State == engine.StatusExited && fmt.Sprint(r.ExitCode) == v
		case "label":
			return matchLabel(r.Labels, v)
		case "health":
			return r.Health == v || v == "none" && r.Health == ""
		}
		return false
	}
	return func(r engine.ContainerSummary) bool {
		for k, vs := range byKey {
			ok := false
			for _, v := range vs {
				ok = ok || one(k, v, r)
			}
			if !ok {
				return false
			}
		}
		return true
	}, nil
}

// matchLabel is docker's label filter: KEY (the label is set) or
// KEY=VALUE.
func matchLabel(labels map[string]string, filter string) bool {
	k, v, withValue := strings.Cut(filter, "=")
	got, ok := labels[k]
	return ok && (!withValue || got == v)
}

// validStatus reports whether v is one of docker's container states, the
// values docker accepts in a status filter (some never occur in Strata:
// they match nothing, as in docker).
func validStatus(v string) bool {
	switch v {
	case "created", "restarting", "running", "removing", "paused", "exited", "dead":
		return true
	}
	return false
}
