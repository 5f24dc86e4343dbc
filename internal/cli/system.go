package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
)

func init() { commands = append(commands, newSystemCommand) }

func newSystemCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Manage the Strata store",
		Long: `System commands look after the store as a whole: its disk use (df), its
integrity (fsck), its garbage (prune), the information info shows, and the
Engine API server (service) that docker clients talk to.`,
		Example: `  strata system df -v
  strata system fsck
  strata system prune -a`,
	}
	cmd.AddCommand(newDfCommand(c), newFsckCommand(c), newSystemPruneCommand(c), newServiceCommand(c), newInfoCommand(c), newSystemDedupeCommand(c), newBootCommand(c), newEventsCommand(c))
	return cmd
}

func newDfCommand(c *CLI) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show disk usage",
		Long: `Df shows how much disk the store uses, as docker system df does. SIZE counts
every unpacked layer once however many images share it; with -v each image's
SHARED SIZE (layers other images use too) and UNIQUE SIZE (layers only it uses)
are listed, and the unique sizes plus the shared total add up to the layers'
disk use, each layer measured on disk as "strata images" measures it. A layer's
size counts all its files; with dedupe on (the overlay driver's default), a file
that several layers hold is stored once in the file pool, and -v says how much
less the layers take on disk for it.

The Blob Cache row counts the compressed layer blobs kept beside the unpacked
layers (--blob-cache-size, 0 by default: none). All of it is reclaimable: a
layer whose blob is gone is rebuilt from its snapshot when it is pushed to a
registry that lacks it, and written from it by save. "strata system prune"
trims it to the budget.

The Local Volumes row counts the volumes; ACTIVE is those a container (running
or not) mounts, SIZE their data's file sizes, RECLAIMABLE what the unused ones
hold ("strata volume prune -a"); -v lists each with LINKS, the containers using it.

The Build Cache row counts the layers steps made (once each) and the RUN
--mount=type=cache directories. ACTIVE is those in use, as in docker: cache
mounts a running build holds. SIZE is what only the cache holds (a layer
an image uses is in the Images row), a layer counted by its uncompressed size and
a cache mount by its disk use; RECLAIMABLE is what "strata builder prune" can
free now, all but the cache mounts in use. -v lists each entry with
its last use ("in use" while a build holds it), most recent first: --keep-storage
removes them from the bottom up.`,
		Example: `  strata system df
  strata system df -v`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			du, err := e.DiskUsage(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			distinct := map[string]bool{}
			for _, i := range du.Images {
				distinct[i.ID.String()] = true
			}
			// Reclaimable: layers of images no container uses.
			var inUse int64
			for _, i := range du.Images {
				if i.Containers > 0 {
					inUse += i.UniqueSize
				}
			}
			reclaim := du.LayersSize - inUse
			if reclaim < 0 {
				reclaim = 0
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			fmt.Fprintf(tw, "Images\t%d\t%d\t%s\t%s\n", len(distinct), du.ActiveImages, humanSize(du.LayersSize), pct(reclaim, du.LayersSize))
			fmt.Fprintf(tw, "Containers\t%d\t%d\t%s\t%s\n", du.Containers, du.ActiveContainers, humanSize(du.ContainersSize), pct(du.ContainersReclaimable, du.ContainersSize))
			vu := du.Volumes
			fmt.Fprintf(tw, "Local Volumes\t%d\t%d\t%s\t%s\n", vu.Total, vu.Active, humanSize(vu.Size), pct(vu.Reclaimable, vu.Size))
			fmt.Fprintf(tw, "Build Cache\t%d\t%d\t%s\t%s\n", du.BuildCacheRecords, du.BuildCacheActive, humanSize(du.BuildCacheSize), humanSize(du.BuildCacheReclaimable))
			fmt.Fprintf(tw, "Blob Cache\t%d\t0\t%s\t%s\n", du.BlobCacheCount, humanSize(du.BlobCacheSize), humanSize(du.BlobCacheSize))
			if err := tw.Flush(); err != nil {
				return err
			}
			if !verbose {
				return nil
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "Images space usage: (layers %s in all, %s shared)\n", humanSize(du.LayersSize), humanSize(du.SharedSize))
			if fp := du.FilePool; fp.Files > 0 {
				fmt.Fprintf(w, "File pool: %d files stored once, %d of them shared: %s less on disk than the layers' sizes add up to\n",
					fp.Files, fp.Shared, humanSize(fp.Saved))
			}
			fmt.Fprintln(w)
			tw = newTable(w)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
			for _, i := range du.Images {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", i.Repository, i.Tag, shortHex(i.ID.String(), true),
					since(i.Created), humanSize(i.Size), humanSize(i.SharedSize), humanSize(i.UniqueSize), i.Containers)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nLocal Volumes space usage:\n\n")
			tw = newTable(w)
			fmt.Fprintln(tw, "VOLUME NAME\tLINKS\tSIZE")
			for _, v := range du.Volumes.Items {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", v.Name, v.UsageData.RefCount, humanSize(v.UsageData.Size))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nBuild cache usage: %s\n\n", humanSize(du.BuildCacheSize))
			tw = newTable(w)
			fmt.Fprintln(tw, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED")
			for _, en := range du.BuildCache {
				last := since(en.LastUsed)
				if en.InUse {
					last = "in use"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%t\n", cacheEntryID(en), en.Type, humanSize(en.Size),
					since(en.Created), last, en.UsageCount, en.Shared)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show per-image detail")
	return cmd
}

func pct(part, whole int64) string {
	if whole == 0 {
		return humanSize(part)
	}
	return fmt.Sprintf("%s (%d%%)", humanSize(part), part*100/whole)
}

func newFsckCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "fsck",
		Short: "Verify every blob and every reference in the store",
		Long: `Fsck re-hashes every blob against its digest and checks that every name points
at a valid manifest and config whose layers are stored and unpacked. Damage is
listed one line per problem and makes fsck exit 1. Leftovers of interrupted work
(unfinished ingests, half-unpacked layers of dead processes, unreferenced blobs)
are harmless and listed as notes: "strata system prune" removes them.`,
		Example: `  strata system fsck`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := e.Fsck(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, p := range rep.Problems {
				fmt.Fprintln(w, "problem:", p)
			}
			for _, n := range rep.Notes {
				fmt.Fprintln(w, "note:", n)
			}
			fmt.Fprintf(w, "checked %d blobs, %d image names, %d layers, %d snapshots: ", rep.Blobs, rep.Images, rep.Layers, rep.Snapshots)
			if rep.Clean() {
				fmt.Fprintln(w, "clean")
				return nil
			}
			fmt.Fprintf(w, "%d problem(s)\n", len(rep.Problems))
			return &ExitError{Code: 1, Err: fmt.Errorf("store %s has %d problem(s)", e.Root(), len(rep.Problems))}
		},
	}
}

func newSystemPruneCommand(c *CLI) *cobra.Command {
	var all, force, volumes bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Long: `Prune removes stopped containers, untagged images (all images no container
uses with -a), and then every blob and layer snapshot nothing references, and the
leftovers of interrupted work, as docker system prune does. It also trims the
blob cache (the compressed layer blobs kept beside the unpacked layers) to its
budget: "strata --blob-cache-size 0 system prune" empties it. --volumes also
removes the anonymous volumes no container uses, as docker's (named volumes
stay: "strata volume prune -a" removes those).`,
		Example: `  strata system prune
  strata system prune -a --volumes
  strata --blob-cache-size 0 system prune`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			freed, err := pruneContainers(cmd, c, f)
			if err != nil {
				return err
			}
			if volumes {
				e, err := c.Engine(cmd.Context())
				if err != nil {
					return err
				}
				names, n, err := e.PruneVolumes(cmd.Context(), engine.VolumePruneOptions{})
				if len(names) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted Volumes:\n%s\n\n", strings.Join(names, "\n"))
				}
				if err != nil {
					return err
				}
				freed += n
			}
			return runPrune(c, cmd, all, freed, f)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all images no container uses, not just untagged ones")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "prune only what matches: until=TIME (a time or a duration ago: 24h), label=KEY[=VALUE], label!=KEY[=VALUE]")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (Strata never prompts)")
	cmd.Flags().BoolVar(&volumes, "volumes", false, "prune anonymous volumes")
	return cmd
}

// runPrune removes images and garbage; already is what an earlier step
// (container prune) freed, added to the total.
func runPrune(c *CLI, cmd *cobra.Command, all bool, already int64, filters map[string][]string) error {
	e, err := c.Engine(cmd.Context())
	if err != nil {
		return err
	}
	deleted, rep, err := e.PruneImages(cmd.Context(), all, engine.Filters(filters))
	w := cmd.OutOrStdout()
	if len(deleted) > 0 {
		fmt.Fprintln(w, "Deleted Images:")
		for _, d := range deleted {
			fmt.Fprintln(w, "deleted:", d)
		}
		fmt.Fprintln(w)
	}
	if err != nil {
		return err
	}
	var extra []string
	if n := len(rep.Blobs); n > 0 {
		extra = append(extra, fmt.Sprintf("%d blobs", n))
	}
	if n := len(rep.Snapshots); n > 0 {
		extra = append(extra, fmt.Sprintf("%d layer snapshots", n))
	}
	if len(extra) > 0 {
		fmt.Fprintf(w, "Removed %s\n", strings.Join(extra, " and "))
	}
	if n := len(rep.Cache.Blobs); n > 0 {
		fmt.Fprintf(w, "Trimmed the blob cache to %s: %d layer blobs (%s), rebuilt from their layers when pushed or saved\n", humanSize(e.BlobCacheBudget()), n, humanSize(rep.Cache.Bytes))
	}
	fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(already+rep.Reclaimed()))
	return nil
}
