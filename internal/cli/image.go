package cli

import (
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newImageCommand) }

// newImageCommand is docker's "image" management group; its verbs are the
// same commands as the top-level ones.
func newImageCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
	}
	ls := newImagesCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := newRmiCommand(c)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	var all bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove untagged images (all unused ones with -a) and unreferenced data",
		Example: `  strata image prune
  strata image prune -a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runPrune(c, cmd, all, 0) },
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove all images no container uses")
	prune.Flags().BoolP("force", "f", false, "do not prompt for confirmation (Strata never prompts)")
	cmd.AddCommand(ls, rm, prune, newInspectCommand(c), newTagCommand(c), newHistoryCommand(c), newImportCommand(c),
		newSaveCommand(c), newLoadCommand(c), newPullCommand(c), newPushCommand(c), newBuildCommand(c))
	return cmd
}
