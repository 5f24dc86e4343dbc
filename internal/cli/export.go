package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { commands = append(commands, newExportCommand) }

func newExportCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Long: `Export writes a tar of the container's whole merged filesystem (its image's
layers with its own changes on top) to standard output or to -o FILE, as docker
export does. strata import turns such a tar back into a one-layer image.`,
		Example: `  strata export web > web.tar
  strata export -o web.tar web
  strata export web | strata import - web-flat`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "" {
				if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return fmt.Errorf("cowardly refusing to write a tar to a terminal: use -o FILE or redirect the output")
				}
				return s.ExportContainer(cmd.Context(), args[0], w)
			}
			f, err := os.CreateTemp(filepath.Dir(output), ".export-*")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			if err := s.ExportContainer(cmd.Context(), args[0], f); err != nil {
				f.Close()
				return err
			}
			_ = f.Chmod(0o644)
			if err := f.Close(); err != nil {
				return err
			}
			return os.Rename(f.Name(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of standard output")
	return cmd
}
