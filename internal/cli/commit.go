package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newCommitCommand) }

func newCommitCommand(c *CLI) *cobra.Command {
	var opts engine.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Long: `Commit turns a container's changes into one new layer on top of its image and
makes an image of them, as docker commit does, and prints the new image's ID.
Only the container's own upper layer is read (overlay whiteouts and opaque
directories become OCI .wh. entries); every layer below is shared with the
image it came from, not copied. The new image keeps the container's command,
environment, working directory and user; -c applies Dockerfile instructions
(CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR) on
top, and the history gets a row with -m's comment and -a's author. A running
container is paused while its layer is read unless -p=false.`,
		Example: `  strata commit web web:v2
  strata commit -m "add index page" -a "Ann <ann@example.com>" web
  strata commit -c 'CMD ["httpd", "-f", "-p", "80"]' web web:v3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				opts.Ref = args[1]
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			id, err := e.CommitContainer(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Message, "message", "m", "", "commit message (the history comment)")
	f.StringVarP(&opts.Author, "author", "a", "", "author (e.g. \"Ann <ann@example.com>\")")
	f.StringArrayVarP(&opts.Changes, "change", "c", nil, "apply a Dockerfile instruction to the image config")
	f.BoolVarP(&opts.Pause, "pause", "p", true, "pause the container while committing")
	f.StringVar(&opts.Compression, "compression", "gzip", "layer compression: gzip, zstd or none")
	return cmd
}
