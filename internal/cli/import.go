package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newImportCommand) }

func newImportCommand(c *CLI) *cobra.Command {
	var opts engine.ImportOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] FILE|DIR|- [REPOSITORY[:TAG]]",
		Short: "Import a root filesystem as a one-layer image",
		Long: `Import makes an image of a single layer from a root filesystem: a tarball
(plain, gzip or zstd), a directory, or "-" for a tarball on standard input.

The tar stream is read once: it is unpacked into the layer's snapshot while it is
compressed into the content store and its diffID is computed. Entries that would
write outside the root (../ paths, escaping links) are refused and nothing is kept.
Prints the new image's ID, as docker import does.`,
		Example: `  strata import rootfs.tar.gz busybox:latest
  strata import ./rootfs debian:bookworm --change 'CMD ["/bin/bash"]'
  tar -C rootfs -c . | strata import - mybase -m "hand made"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Source = args[0]
			opts.Stdin = c.Stdin
			if len(args) == 2 {
				opts.Ref = args[1]
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			id, err := e.Import(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&opts.Changes, "change", "c", nil, "apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)")
	cmd.Flags().StringVarP(&opts.Message, "message", "m", "", "set the history comment")
	cmd.Flags().StringVar(&opts.Compression, "compression", "gzip", "layer compression: gzip, zstd or none")
	return cmd
}
