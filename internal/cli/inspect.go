package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newInspectCommand) }

// inspectors let other object kinds (containers) answer `strata inspect`;
// each returns ok=false when the name is not one of its objects.
var inspectors []func(cmd *cobra.Command, c *CLI, name string) (v any, ok bool, err error)

func newInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Show low-level information on images (and containers)",
		Long: `Inspect prints a JSON array describing each object, shaped like docker image
inspect: Id, RepoTags, RepoDigests, Created, Config, Architecture, Os, Size,
GraphDriver (the snapshot directories of the layers) and RootFS (the diffIDs).`,
		Example: `  strata inspect busybox
  strata inspect --format '{{.Id}}' busybox
  strata inspect --format '{{json .Config.Env}}' debian:bookworm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(c, cmd, args, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	return cmd
}

func runInspect(c *CLI, cmd *cobra.Command, args []string, format string) error {
	e, err := c.Engine(cmd.Context())
	if err != nil {
		return err
	}
	var out []any
	var errs []error
	for _, a := range args {
		found := false
		for _, ins := range inspectors {
			v, ok, err := ins(cmd, c, a)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, v)
				found = true
				break
			}
		}
		if found {
			continue
		}
		v, err := e.InspectImage(cmd.Context(), a)
		if errdefs.IsNotFound(err) && cmd.Parent() == cmd.Root() {
			// strata inspect looks for any kind of object, as docker's.
			err = fmt.Errorf("No such object: %s: %w", a, errdefs.ErrNotFound)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	if err := printInspect(cmd.OutOrStdout(), format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}
