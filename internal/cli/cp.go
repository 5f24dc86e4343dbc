package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
)

func init() { commands = append(commands, newCpCommand) }

func newCpCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH|-\n  strata cp SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files and directories between a container and the host",
		Long: `Cp copies a file or a directory tree out of a container or into it, running or
not, as docker cp does. Paths inside the container are resolved in its root:
symlinks on the way cannot lead out of it. A destination that is an existing
directory receives the source under its own name; otherwise the source is
copied to the destination's name. "-" is a tar stream: on standard output when
copying out, read from standard input (and extracted into the directory
given) when copying in.`,
		Example: `  strata cp web:/etc/hostname ./hostname
  strata cp ./site web:/www
  strata cp web:/var/log - | tar -t
  tar -c conf | strata cp - web:/etc`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := containerStore(cmd, c)
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
				return s.CopyFrom(ctx, srcCtr, src, cmd.OutOrStdout())
			case srcCtr != "":
				return copyOut(ctx, s, srcCtr, src, dst)
			case dstCtr != "" && src == "-":
				return s.CopyTo(ctx, dstCtr, dst, c.Stdin)
			case dstCtr != "":
				return copyIn(ctx, s, src, dstCtr, dst)
			}
			return fmt.Errorf("cp: one of the paths must be CONTAINER:PATH: %w", errdefs.ErrInvalidArgument)
		},
	}
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

// copyOut extracts the container's src into the host's dst: into dst when
// it is a directory, else as dst itself (through a temp dir beside it).
func copyOut(ctx context.Context, s *container.Store, ref, src, dst string) error {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return extractFrom(ctx, s, ref, src, dst)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".strata-cp-")
	if err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := extractFrom(ctx, s, ref, src, tmp); err != nil {
		return err
	}
	ents, err := os.ReadDir(tmp)
	if err != nil || len(ents) != 1 {
		return fmt.Errorf("cp: %s:%s copied nothing", ref, src)
	}
	if err := os.Rename(filepath.Join(tmp, ents[0].Name()), dst); err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	return nil
}

func extractFrom(ctx context.Context, s *container.Store, ref, src, dir string) error {
	pr, pw := io.Pipe()
	go func() {
		// Ends when the tar is written, on an error, or when Apply stops
		// reading and closes pr.
		pw.CloseWithError(s.CopyFrom(ctx, ref, src, pw))
	}()
	_, err := archive.Apply(ctx, dir, pr, archive.ApplyOptions{})
	pr.CloseWithError(errors.New("cp: extraction stopped"))
	if err != nil {
		return fmt.Errorf("cp %s:%s: %w", ref, src, err)
	}
	return nil
}

// copyIn copies the host's src into the container: under its own name into
// dst when dst is a directory there, else as dst.
func copyIn(ctx context.Context, s *container.Store, src, ref, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	dst = path.Clean("/" + dst)
	isDir, exists := containerPathKind(ctx, s, ref, dst)
	dir, name := dst, filepath.Base(src)
	if !isDir {
		if exists && fi.IsDir() {
			return fmt.Errorf("cp: cannot copy directory %s over file %s:%s: %w", src, ref, dst, errdefs.ErrInvalidArgument)
		}
		dir, name = path.Dir(dst), path.Base(dst)
	}
	pr, pw := io.Pipe()
	go func() {
		// Ends when the tree is written, on an error, or when CopyTo stops
		// reading and closes pr.
		pw.CloseWithError(archive.WritePath(ctx, pw, src, name, archive.WriteOptions{}))
	}()
	err = s.CopyTo(ctx, ref, dir, pr)
	pr.CloseWithError(errors.New("cp: copy stopped"))
	return err
}

// containerPathKind says whether p is a directory in the container and
// whether it exists, from the first header of its tar.
func containerPathKind(ctx context.Context, s *container.Store, ref, p string) (isDir, exists bool) {
	pr, pw := io.Pipe()
	go func() {
		// Ends when the reader below closes after one header.
		pw.CloseWithError(s.CopyFrom(ctx, ref, p, pw))
	}()
	hdr, err := tar.NewReader(pr).Next()
	pr.CloseWithError(errors.New("enough"))
	if err != nil {
		return false, false
	}
	return hdr.Typeflag == tar.TypeDir, true
}
