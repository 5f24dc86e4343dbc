package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newRmiCommand) }

func newRmiCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Long: `Rmi removes a name; when an image has no name left, it is deleted, and every
blob and layer snapshot no other image, container or cache entry uses is freed.
Removing by ID removes all the image's names, which needs -f when it has several.
An image a container uses is refused: remove the container first.`,
		Example: `  strata rmi busybox
  strata rmi -f 3f57d9401f8d`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			w := cmd.OutOrStdout()
			for _, a := range args {
				res, err := e.RemoveImage(cmd.Context(), a, force)
				for _, u := range res.Untagged {
					fmt.Fprintln(w, "Untagged:", u)
				}
				for _, d := range res.Deleted {
					fmt.Fprintln(w, "Deleted:", d)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove every name of an image given by ID")
	return cmd
}
