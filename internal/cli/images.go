package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newImagesCommand) }

type imageRow struct {
	Repository   string
	Tag          string
	ID           string
	Digest       string
	CreatedSince string
	CreatedAt    string
	Size         string
}

type imagesOptions struct {
	all, quiet, digests, noTrunc bool
	format                       string
	filters                      []string
}

func newImagesCommand(c *CLI) *cobra.Command {
	var o imagesOptions
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"image-ls"},
		Short:   "List images",
		Long: `List the images in the store: one row per name, with the image ID (the digest
of its config), when it was created, and the uncompressed size of its layers.
Layers shared by several images are stored once; see "strata system df -v".
A REPOSITORY[:TAG] argument may be a shell pattern ('busy*'), as docker's.
--filter takes docker's dangling=true|false, label=KEY[=VALUE], label!=,
reference=PATTERN, before=IMAGE, since=IMAGE and until=TIME (a time or a
duration ago).`,
		Example: `  strata images
  strata images -q
  strata images --digests --no-trunc
  strata images 'busy*'
  strata images --filter dangling=true -q
  strata images --format '{{.Repository}}:{{.Tag}} {{.Size}}'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(c, cmd, o, args)
		},
	}
	addImagesFlags(cmd, &o)
	return cmd
}

func addImagesFlags(cmd *cobra.Command, o *imagesOptions) {
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "show all images (there are no hidden intermediate images in Strata; accepted for docker compatibility)")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&o.digests, "digests", false, "show digests")
	cmd.Flags().BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&o.format, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().StringArrayVarP(&o.filters, "filter", "f", nil, "filter: dangling=true|false, label=KEY[=VALUE], reference=PATTERN, before=IMAGE, since=IMAGE, until=TIME")
}

func runImages(c *CLI, cmd *cobra.Command, o imagesOptions, args []string) error {
	f, err := parseFilters(o.filters)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		// docker images NAME is a reference filter: busybox, busy*, app:v1.
		f["reference"] = append(f["reference"], args[0])
	}
	e, err := c.Engine(cmd.Context())
	if err != nil {
		return err
	}
	list, err := e.ListImages(cmd.Context())
	if err != nil {
		return err
	}
	if list, err = e.FilterImages(cmd.Context(), list, engine.Filters(f)); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.quiet {
		seen := map[string]bool{}
		for _, r := range list {
			id := shortHex(r.ID.String(), !o.noTrunc)
			if o.noTrunc {
				id = r.ID.String()
			}
			if !seen[id] {
				seen[id] = true
				fmt.Fprintln(out, id)
			}
		}
		return nil
	}
	rows := make([]imageRow, 0, len(list))
	for _, r := range list {
		id := r.ID.String()
		if !o.noTrunc {
			id = shortHex(id, true)
		}
		dgst := "<none>" // never pulled or pushed, as docker's
		if r.Digest != "" {
			dgst = r.Digest.String()
		}
		rows = append(rows, imageRow{
			Repository: r.Repository, Tag: r.Tag, ID: id, Digest: dgst,
			CreatedSince: since(r.Created), CreatedAt: r.Created.Format("2006-01-02 15:04:05 -0700 MST"),
			Size: humanSize(r.Size),
		})
	}
	def := "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	if o.digests {
		def = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	return render(out, o.format, def, rows, nil)
}
