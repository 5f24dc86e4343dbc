package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newSystemDedupeCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "dedupe",
		Short: "Store each file of the image layers once",
		Long: `Dedupe passes over every layer snapshot already in the store and stores each
regular file once: files with the same content, mode, owner, mtime and xattrs
become hard links to one copy in the store's file pool. Layers unpacked, loaded,
imported or built from now on are deduped as they are committed; this is for a
store filled before (or by an older Strata, whose file pool it also moves to the
content hash files are keyed by now, so that new images share its files). It can
run again at any time and only then does what the first run left; it prints the
space it saved.

A container never sees a change through a shared file: writes copy the file up
first. Inside a container a shared file's link count is the number of layers
holding it, not 1. Turn dedupe off for a store with {"dedupe": false} in
<root>/config.json or STRATA_DEDUPE=0.`,
		Example: `  strata system dedupe`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := e.Dedupe(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if rep.Rekeyed > 0 {
				fmt.Fprintf(w, "Moved %d file pool entr(ies) of an older Strata to the current content hash (%d merged with an entry of the same file)\n", rep.Rekeyed, rep.Merged)
			}
			fmt.Fprintf(w, "Deduplicated %d snapshot(s): %d of %d file(s) now shared\n", rep.Snapshots, rep.Pooled, rep.Files)
			fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(rep.Saved))
			return nil
		},
	}
}
