package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/progress"
)

func init() { commands = append(commands, newLoadCommand) }

func newLoadCommand(c *CLI) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from a tar archive or an OCI layout (standard input by default)",
		Long: `Load reads images saved by "strata save" or "docker save" (both the old
format with <id>/layer.tar and the one of docker 25 and later), and OCI image
layouts, as a directory or a tar. Archives may be gzip or zstd compressed.

Every digest is checked: each manifest and config against the name it is
stored under, each layer's bytes against its descriptor and its uncompressed
tar against the config's diff_ids. Paths that climb out of the archive, links
out of it, missing or wrong blobs and oversized JSON are refused, and then
nothing at all is kept or named. Each layer is read once: it is stored,
verified and unpacked into its snapshot in one pass. Layers already in the
store are not read again.

A plain archive file is read in place. Standard input and compressed archives
are read in one pass when their JSON comes first, as "strata save" writes them;
others ("docker save" writes manifest.json after the layers) are first
decompressed into a temp file under the store root (ROOT/tmp).

Progress goes to standard error: a "Loading layer" bar per layer on a terminal,
a line per layer otherwise (none with -q). Prints "Loaded image: NAME" per name, or "Loaded image ID: sha256:..." for an
image saved without a name, as docker does.`,
		Example: `  strata load -i busybox.tar
  strata load < app.tar.gz
  strata load -i ./oci-layout-dir
  docker save alpine | strata load`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts := engine.LoadOptions{Input: input, Stdin: c.Stdin}
			if input == "" || input == "-" {
				if f, ok := c.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return errors.New("requested load from stdin, but stdin is empty; use -i FILE or redirect")
				}
			}
			e, err := c.Engine(ctx)
			if err != nil {
				return err
			}
			var p *progress.Printer
			if !quiet {
				errOut := cmd.ErrOrStderr()
				p = progress.NewPrinter(errOut, progress.IsTerminal(errOut))
				opts.Progress = p.Reporter()
			}
			loaded, err := e.Load(ctx, opts)
			if p != nil {
				p.Close()
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, n := range loaded {
				if strings.HasPrefix(n, "sha256:") {
					fmt.Fprintln(out, "Loaded image ID:", n)
				} else {
					fmt.Fprintln(out, "Loaded image:", n)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from a file or OCI layout directory instead of standard input")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress the load progress")
	return cmd
}
