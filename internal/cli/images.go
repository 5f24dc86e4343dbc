package cli

import (
	"fmt"
	"strings"

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
}

func newImagesCommand(c *CLI) *cobra.Command {
	var o imagesOptions
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"image-ls"},
		Short:   "List images",
		Long: `List the images in the store: one row per name, with the image ID (the digest
of its config), when it was created, and the uncompressed size of its layers.
Layers shared by several images are stored once; see "strata system df -v".`,
		Example: `  strata images
  strata images -q
  strata images --digests --no-trunc
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
}

func runImages(c *CLI, cmd *cobra.Command, o imagesOptions, args []string) error {
	e, err := c.Engine(cmd.Context())
	if err != nil {
		return err
	}
	list, err := e.ListImages(cmd.Context())
	if err != nil {
		return err
	}
	if len(args) == 1 {
		list = filterImages(list, args[0])
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

func filterImages(list []engine.ImageSummary, ref string) []engine.ImageSummary {
	repo, tag, _ := strings.Cut(ref, ":")
	if strings.Contains(tag, "/") { // a registry port, not a tag
		repo, tag = ref, ""
	}
	var out []engine.ImageSummary
	for _, r := range list {
		if r.Repository == repo && (tag == "" || r.Tag == tag) {
			out = append(out, r)
		}
	}
	return out
}
