package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { commands = append(commands, newSaveCommand) }

func newSaveCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to standard output by default)",
		Long: `Save writes images to one tar archive that is at the same time a "docker save"
archive (manifest.json, repositories) and an OCI image layout (oci-layout,
index.json, blobs/sha256/...). Every blob is stored once, however many of the
saved images share it, and is copied from the store as it is verified. So
"docker load", "podman load", "skopeo copy docker-archive:FILE ..." and
"skopeo copy oci-archive:FILE ..." all read it, as does "strata load".

An image given by name is saved under that name; one given by ID is saved
without a name, as docker does. Layers are saved as the store keeps them
(gzip unless imported otherwise).

Without -o the archive goes to standard output, which must not be a terminal.
With -o it is written to a temp file beside FILE and renamed into place when
complete, so a failed save leaves no partial archive.`,
		Example: `  strata save -o busybox.tar busybox:latest
  strata save app:v1 app:v2 | gzip > app.tar.gz
  strata save busybox | ssh other-host strata load`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output == "" || output == "-" {
				out := cmd.OutOrStdout()
				if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
				e, err := c.Engine(ctx)
				if err != nil {
					return err
				}
				return e.Save(ctx, out, args)
			}
			e, err := c.Engine(ctx)
			if err != nil {
				return err
			}
			return saveToFile(output, func(w io.Writer) error { return e.Save(ctx, w, args) })
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of standard output")
	return cmd
}

// saveToFile writes through a temp file in the same directory, renamed onto
// path only when write succeeded.
func saveToFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save to %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save to %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save to %s: %w", path, err)
	}
	ok = true
	return nil
}
