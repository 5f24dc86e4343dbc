package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newHistoryCommand) }

type historyRow struct {
	ID           string
	CreatedSince string
	CreatedAt    string
	CreatedBy    string
	Size         string
	Comment      string
}

func newHistoryCommand(c *CLI) *cobra.Command {
	var human, quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Long: `History lists the steps that made an image, newest first, like docker history.
The top row shows the image ID. Every other row shows the ID of the layer
state it produced (its chain ID), never "<missing>": Strata knows every layer
it has. Rows that made no layer have a size of 0B.`,
		Example: `  strata history busybox
  strata history --no-trunc -H=false debian:bookworm
  strata history --format '{{.ID}} {{.CreatedBy}}' myapp`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			hist, err := e.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var rows []historyRow
			for _, h := range hist {
				id := h.ID
				if !noTrunc && strings.HasPrefix(id, "sha256:") {
					id = shortHex(id, true)
				}
				if quiet {
					fmt.Fprintln(w, id)
					continue
				}
				r := historyRow{ID: id, CreatedBy: h.CreatedBy, Comment: h.Comment}
				if human {
					r.CreatedSince, r.Size = since(h.Created), humanSize(h.Size)
				} else {
					r.CreatedSince, r.Size = h.Created.Format(time.RFC3339), fmt.Sprint(h.Size)
				}
				r.CreatedAt = h.Created.Format(time.RFC3339)
				if !noTrunc && len(r.CreatedBy) > 45 {
					r.CreatedBy = r.CreatedBy[:44] + "…"
				}
				rows = append(rows, r)
			}
			if quiet {
				return nil
			}
			def := "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
			return render(w, format, def, rows, map[string]string{"ID": "IMAGE"})
		},
	}
	cmd.Flags().BoolVarP(&human, "human", "H", true, "print sizes and dates in human readable format")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	return cmd
}
