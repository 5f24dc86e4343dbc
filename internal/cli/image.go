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
		Long: `Manage images: the image verbs grouped as docker image groups them. strata
image ls is strata images, strata image rm is strata rmi, strata image pull is
strata pull, and so on. Each verb's help describes it.`,
		Example: `  strata image ls
  strata image pull localhost:5000/app:1
  strata image prune -a`,
	}
	ls := newImagesCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := newRmiCommand(c)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	var all bool
	var filters []string
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove untagged images (all unused ones with -a) and unreferenced data",
		Long: `Prune removes the untagged images (docker's dangling <none> ones), or with -a
every image no container uses, then every blob and layer snapshot nothing
references any more, and prints what it freed, as docker image prune does.
Strata never prompts, so -f is accepted and ignored.`,
		Example: `  strata image prune
  strata image prune -a
  strata image prune -a --filter until=24h --filter label!=keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			return runPrune(c, cmd, all, 0, f)
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove all images no container uses")
	prune.Flags().StringArrayVar(&filters, "filter", nil, "prune only images that match: until=TIME (a time or a duration ago: 24h), label=KEY[=VALUE], label!=KEY[=VALUE]")
	prune.Flags().BoolP("force", "f", false, "do not prompt for confirmation (Strata never prompts)")
	cmd.AddCommand(ls, rm, prune, newInspectCommand(c), newTagCommand(c), newHistoryCommand(c), newImportCommand(c),
		newSaveCommand(c), newLoadCommand(c), newPullCommand(c), newPushCommand(c), newBuildCommand(c))
	return cmd
}
