package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newVolumeCommand) }

func newVolumeCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage volumes",
		Long: `Volume manages volumes: directories in the store (<root>/volumes/NAME/_data, out
of reach of other host users) that outlive the containers mounting them. run -v
NAME:/path makes one on first use and, when it is empty, fills it with what the
image has at /path; -v /path and the image's VOLUMEs get anonymous ones, which
rm -v and --rm remove with their container. The local driver's --opt type=tmpfs,
or type=none o=bind device=HOST_PATH, mount that instead of the directory.`,
		Example: `  strata volume create data
  strata run --rm -v data:/data busybox sh -c 'echo hi > /data/f'
  strata run --rm -v data:/data:ro busybox cat /data/f
  strata volume ls --filter dangling=true
  strata volume prune -a`,
	}
	cmd.AddCommand(newVolumeCreateCommand(c), newVolumeLsCommand(c), newVolumeInspectCommand(c),
		newVolumeRmCommand(c), newVolumePruneCommand(c))
	return cmd
}

func newVolumeCreateCommand(c *CLI) *cobra.Command {
	var driver, name string
	var opts, labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Long: `Create makes a volume and prints its name: a random 64-hex one without VOLUME.
A volume of that name that exists already is kept and printed, as docker does.
The local driver's options: --opt type=tmpfs [--opt o=size=64m], or
--opt type=none --opt o=bind --opt device=/host/path (mounted when a container
starts, instead of the volume's own directory).`,
		Example: `  strata volume create data
  strata volume create --label team=web cache
  strata volume create --opt type=tmpfs --opt o=size=64m scratch
  strata volume create --opt type=none --opt o=bind --opt device=/srv/www www`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" && name != args[0] {
					return fmt.Errorf("conflicting options: either specify --name or provide positional arg, not both: %w", errdefs.ErrInvalidArgument)
				}
				name = args[0]
			}
			o, err := keyValues("--opt", opts, false)
			if err != nil {
				return err
			}
			l, err := keyValues("--label", labels, false)
			if err != nil {
				return err
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			v, err := e.CreateVolume(cmd.Context(), engine.VolumeCreateOptions{Name: name, Driver: driver, Options: o, Labels: l})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&driver, "driver", "d", "local", "volume driver (local only)")
	cmd.Flags().StringArrayVarP(&opts, "opt", "o", nil, "the driver's options: type=tmpfs|none, o=MOUNT_OPTIONS, device=SOURCE")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "set metadata on the volume (KEY[=VALUE])")
	cmd.Flags().StringVar(&name, "name", "", "the volume's name")
	_ = cmd.Flags().MarkHidden("name")
	return cmd
}

// volumeRow is a row of volume ls.
type volumeRow struct {
	Driver, Name, Scope, Mountpoint, Labels, Links, Size, CreatedAt string
}

// Label returns one label's value ({{.Label "team"}}).
func (r volumeRow) Label(key string) string {
	for _, kv := range strings.Split(r.Labels, ",") {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// parseFilters reads --filter KEY=VALUE values into docker's filter map.
func parseFilters(vals []string) (map[string][]string, error) {
	f := map[string][]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s: %w", v, errdefs.ErrInvalidArgument)
		}
		f[strings.ToLower(k)] = append(f[strings.ToLower(k)], val)
	}
	return f, nil
}

func newVolumeLsCommand(c *CLI) *cobra.Command {
	var format string
	var quiet bool
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Long: `Ls lists the volumes by name. --filter dangling=true lists those no container
uses (running or not), name=PART those whose name holds PART, label=KEY or
label=KEY=VALUE those labelled so, driver=local. --format takes json or a Go
template over .Name, .Driver, .Scope, .Mountpoint, .Labels, .Links, .CreatedAt.`,
		Example: `  strata volume ls
  strata volume ls -q --filter dangling=true
  strata volume ls --format '{{.Name}} {{.Mountpoint}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			vols, err := e.ListVolumes(cmd.Context(), engine.VolumeFilters(f))
			if err != nil {
				return err
			}
			rows := []volumeRow{}
			for _, v := range vols {
				var labels []string
				for k, val := range v.Labels {
					labels = append(labels, k+"="+val)
				}
				sort.Strings(labels)
				rows = append(rows, volumeRow{Driver: v.Driver, Name: v.Name, Scope: v.Scope, Mountpoint: v.Mountpoint,
					Labels: strings.Join(labels, ","), Links: "N/A", Size: "N/A", CreatedAt: v.CreatedAt})
			}
			if quiet {
				format = "{{.Name}}"
			}
			return render(cmd.OutOrStdout(), format, "{{.Driver}}\t{{.Name}}", rows, map[string]string{"Name": "VOLUME NAME"})
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: dangling=true|false, name=, label=KEY[=VALUE], driver=local")
	return cmd
}

func newVolumeInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Long:  `Inspect prints volumes in docker's shape: CreatedAt, Driver, Labels, Mountpoint, Name, Options, Scope.`,
		Example: `  strata volume inspect data
  strata volume inspect --format '{{.Mountpoint}}' data`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			return inspectEach(cmd, format, args, e.InspectVolume)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	return cmd
}

func newVolumeRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Long: `Rm removes volumes and their data. A volume a container uses, running or not,
is refused, naming the container (remove the container first). -f makes a
volume that does not exist no error, as docker's.`,
		Example: `  strata volume rm data
  strata volume rm -f data cache`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, a := range args {
				if err := e.RemoveVolume(cmd.Context(), a, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), a)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "no error for a volume that does not exist")
	return cmd
}

func newVolumePruneCommand(c *CLI) *cobra.Command {
	var force, all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Long: `Prune removes the anonymous volumes no container uses (those made for an
image's VOLUME or -v /path), as docker 23 and later do; -a removes every unused
volume, named ones too. --filter label=KEY[=VALUE] or label!=KEY[=VALUE]
narrows it. Strata never prompts, so -f is accepted and changes nothing.`,
		Example: `  strata volume prune
  strata volume prune -a --filter label=env=test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			names, freed, err := e.PruneVolumes(cmd.Context(), engine.VolumePruneOptions{All: all, Filters: engine.VolumeFilters(f)})
			w := cmd.OutOrStdout()
			if len(names) > 0 {
				fmt.Fprintf(w, "Deleted Volumes:\n%s\n\n", strings.Join(names, "\n"))
			}
			fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(freed))
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (there is no prompt)")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every unused volume, not only anonymous ones")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "filter: label=KEY[=VALUE], label!=KEY[=VALUE]")
	return cmd
}
