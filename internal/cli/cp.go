package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newCpCommand) }

func newCpCommand(c *CLI) *cobra.Command {
	var o engine.CopyOptions
	cmd := &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH|-\n  strata cp SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files and directories between a container and the host",
		Long: `Cp copies a file or a directory tree out of a container or into it, running or
not, as docker cp does. Paths inside the container are resolved in its root:
symlinks on the way cannot lead out of it. A destination that is an existing
directory receives the source under its own name; otherwise the source is
copied to the destination's name. "-" is a tar stream: on standard output when
copying out, read from standard input (and extracted into the directory
given) when copying in. A source that is a symlink is copied as the link
unless -L, which copies what it points to under its name. Files copied in
belong to the container's root and files copied out to the caller, unless -a
(archive mode) keeps their uid and gid.`,
		Example: `  strata cp web:/etc/hostname ./hostname
  strata cp ./site web:/www
  strata cp web:/var/log - | tar -t
  tar -c conf | strata cp - web:/etc
  strata cp -a ./data web:/srv
  strata cp -L web:/etc/localtime ./localtime`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := c.Engine(cmd.Context())
			if err != nil {
				return err
			}
			srcCtr, src := splitContainerPath(args[0])
			dstCtr, dst := splitContainerPath(args[1])
			ctx := cmd.Context()
			switch {
			case srcCtr != "" && dstCtr != "":
				return fmt.Errorf("cp: copying between containers is not supported: %w", errdefs.ErrInvalidArgument)
			case srcCtr != "" && dst == "-":
				return s.CopyFromContainer(ctx, srcCtr, src, cmd.OutOrStdout(), o)
			case srcCtr != "":
				return s.CopyOut(ctx, srcCtr, src, dst, o)
			case dstCtr != "" && src == "-":
				return s.CopyToContainer(ctx, dstCtr, dst, c.Stdin)
			case dstCtr != "":
				return s.CopyIn(ctx, src, dstCtr, dst, o)
			}
			return fmt.Errorf("cp: one of the paths must be CONTAINER:PATH: %w", errdefs.ErrInvalidArgument)
		},
	}
	cmd.Flags().BoolVarP(&o.Archive, "archive", "a", false, "archive mode: keep the files' uid and gid")
	cmd.Flags().BoolVarP(&o.FollowLink, "follow-link", "L", false, "always follow a symlink in the source path")
	return cmd
}

// splitContainerPath splits CONTAINER:PATH; a path that starts with / or .
// is the host's, whatever colons it holds.
func splitContainerPath(arg string) (ctr, p string) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	if i := strings.IndexByte(arg, ':'); i > 0 {
		return arg[:i], arg[i+1:]
	}
	return "", arg
}
