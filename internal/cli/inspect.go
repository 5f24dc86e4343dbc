package cli

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() {
	commands = append(commands, newInspectCommand)
	inspectors = append(inspectors,
		inspector{kind: "image", find: func(cmd *cobra.Command, c *CLI, name string) (any, bool, error) {
			return found(c, cmd, func(e *engine.Engine) (any, error) { return e.InspectImage(cmd.Context(), name) })
		}},
		inspector{kind: "network", find: func(cmd *cobra.Command, c *CLI, name string) (any, bool, error) {
			return found(c, cmd, func(e *engine.Engine) (any, error) { return e.InspectNetwork(cmd.Context(), name) })
		}},
	)
}

// inspector finds one kind of object for `strata inspect`; ok=false when
// the name is not one of its objects.
type inspector struct {
	kind string
	find func(cmd *cobra.Command, c *CLI, name string) (v any, ok bool, err error)
}

// found runs one kind's inspect: ok is false (and no error) when the
// name is not one of its objects.
func found(c *CLI, cmd *cobra.Command, inspect func(e *engine.Engine) (any, error)) (any, bool, error) {
	e, err := c.Engine(cmd.Context())
	if err != nil {
		return nil, false, err
	}
	v, err := inspect(e)
	if errdefs.IsNotFound(err) {
		return nil, false, nil
	}
	return v, err == nil, err
}

// inspectors are the kinds `strata inspect` looks through, in docker's
// order (container, image, network, volume); each kind's file adds its own.
var inspectors []inspector

// inspectKinds are --type's values, docker's.
var inspectKinds = []string{"container", "image", "network", "volume"}

func newInspectCommand(c *CLI) *cobra.Command {
	var format, kind string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Strata objects",
		Long: `Inspect prints a JSON array describing each object, a container, an image or a
network, in docker's shape; without --type the first kind with that name or
ID answers, containers first, as docker inspect does. --type container,
image, network or volume looks at that kind only.`,
		Example: `  strata inspect busybox
  strata inspect --format '{{.Id}}' busybox
  strata inspect --type container --format '{{.State.Status}}' web
  strata inspect --format '{{json .Config.Env}}' debian:bookworm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind != "" && !slices.Contains(inspectKinds, kind) {
				return fmt.Errorf("%q is not a valid value for --type: want container, image, network or volume: %w", kind, errdefs.ErrInvalidArgument)
			}
			if cmd.Parent() != cmd.Root() {
				kind = "image" // strata image inspect
			}
			return runInspect(c, cmd, args, format, kind)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	cmd.Flags().StringVar(&kind, "type", "", "only this kind of object: container, image, network or volume")
	return cmd
}

func runInspect(c *CLI, cmd *cobra.Command, args []string, format, kind string) error {
	var out []any
	var errs []error
	for _, a := range args {
		found := false
		for _, ins := range inspectors {
			if kind != "" && ins.kind != kind {
				continue
			}
			v, ok, err := ins.find(cmd, c, a)
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
		switch kind {
		case "":
			errs = append(errs, fmt.Errorf("No such object: %s: %w", a, errdefs.ErrNotFound))
		case "image":
			errs = append(errs, fmt.Errorf("no such image: %s: %w", a, errdefs.ErrNotFound))
		default:
			errs = append(errs, fmt.Errorf("No such %s: %s: %w", kind, a, errdefs.ErrNotFound))
		}
	}
	if err := printInspect(cmd.OutOrStdout(), format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}
