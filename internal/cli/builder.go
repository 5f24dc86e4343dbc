package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() {
	commands = append(commands, newBuilderCommand)
	// The build cache's layers are gc roots until builder prune drops them.
	wireHooks = append(wireHooks, func(c *CLI, e *engine.Engine) {
		e.AddRoots(e.BuildCacheRoots)
	})
}

func newBuilderCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage the build cache",
	}
	var opts engine.BuilderPruneOptions
	var keep string
	var force bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove build cache",
		Long: `Prune drops build cache records, least recently used first, and removes the
layers and snapshots nothing else uses. Without --all only records whose layers
no image uses are dropped; --keep-storage keeps the most recently used records up
to that many bytes.`,
		Example: `  strata builder prune
  strata builder prune --all
  strata builder prune --keep-storage 2GB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = force
			if keep != "" {
				n, err := parseBytes(keep)
				if err != nil {
					return err
				}
				opts.KeepStorage = n
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := e.PruneBuildCache(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted build cache objects: %d\nTotal reclaimed space: %s\n", rep.Records, humanSize(rep.Reclaimed))
			return nil
		},
	}
	prune.Flags().BoolVarP(&opts.All, "all", "a", false, "remove all build cache, not just what no image uses")
	prune.Flags().StringVar(&keep, "keep-storage", "", "keep this much of the most recently used cache (e.g. 2GB, 512MB)")
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not prompt (there is no prompt)")
	cmd.AddCommand(prune)
	return cmd
}

// parseBytes reads 512, 10kB, 2GB, 1.5GiB.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(t, u.suf) {
			t, mult = strings.TrimSuffix(t, u.suf), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 512MB or 2GB: %w", s, errdefs.ErrInvalidArgument)
	}
	return int64(f * float64(mult)), nil
}
