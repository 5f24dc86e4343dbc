package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newBuilderCommand) }

func newBuilderCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage the build cache",
		Long: `Builder looks after the build cache: the layers build steps made, and the
RUN --mount=type=cache directories, as docker builder does. "strata system df -v"
lists the entries with their last use.`,
		Example: `  strata builder prune
  strata builder prune --keep-storage 2GB`,
	}
	var opts engine.BuilderPruneOptions
	var keep string
	var filters []string
	var force bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove build cache",
		Long: `Prune removes build cache as docker builder prune does. The build cache is the
layers steps made and the RUN --mount=type=cache directories, each with its last
use ("strata system df -v" lists them).

By default prune removes everything nothing uses: layers no image uses and cache
mounts no running build holds, however recently used. --all also drops the
records of layers images use (the layers stay with the images). --keep-storage
keeps the most recently used entries, layers and cache mounts together, up to
that size, and removes the rest least recently used first; --filter until=24h
keeps what was used in the last 24 hours. A cache mount a running build holds is
never removed.`,
		Example: `  strata builder prune
  strata builder prune --all
  strata builder prune --keep-storage 2GB
  strata builder prune --filter until=72h`,
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
			for _, f := range filters {
				d, err := parsePruneFilter(f)
				if err != nil {
					return err
				}
				opts.KeepDuration = d
			}
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := e.PruneBuildCache(cmd.Context(), opts)
			w := cmd.OutOrStdout()
			if len(rep.Removed) > 0 {
				fmt.Fprintln(w, "Deleted build cache objects:")
				for _, en := range rep.Removed {
					fmt.Fprintln(w, cacheEntryID(en))
				}
				fmt.Fprintln(w)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Total reclaimed space: %s\n", humanSize(rep.Reclaimed))
			return nil
		},
	}
	prune.Flags().BoolVarP(&opts.All, "all", "a", false, "remove all build cache, not just what no image uses")
	prune.Flags().StringVar(&keep, "keep-storage", "", "keep this much of the most recently used cache (e.g. 2GB, 512MB)")
	prune.Flags().StringArrayVar(&filters, "filter", nil, "keep what was used recently: until=DURATION (e.g. until=24h)")
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not prompt (there is no prompt)")
	cmd.AddCommand(prune)
	return cmd
}

// cacheEntryID is how prune and df -v name a build cache entry: a layer
// by its chain ID's first 12 hex digits, a cache mount by its directory.
func cacheEntryID(en engine.BuildCacheEntry) string {
	if en.Type == engine.CacheTypeLayer {
		return shortHex(en.ID, true)
	}
	return en.ID
}

// parsePruneFilter reads --filter until=DURATION, the one filter builder
// prune takes.
func parsePruneFilter(f string) (time.Duration, error) {
	k, v, ok := strings.Cut(f, "=")
	if !ok || strings.TrimSpace(strings.ToLower(k)) != "until" {
		return 0, fmt.Errorf("--filter %q: builder prune takes only until=DURATION (e.g. until=24h): %w", f, errdefs.ErrInvalidArgument)
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--filter %q: want a positive duration such as 24h or 90m: %w", f, errdefs.ErrInvalidArgument)
	}
	return d, nil
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
