package container

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

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
)

// cp between a container and the host's filesystem (docker cp CTR:SRC
// DST and docker cp SRC CTR:DST): the tar streams of CopyFrom and CopyTo,
// extracted on or read from the host's side.

// CopyOut extracts the container's src into the host's dst: into dst when
// it is a directory, else as dst itself (through a temp dir beside it).
func (s *Store) CopyOut(ctx context.Context, ref, src, dst string, o CopyOptions) error {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return s.extractFrom(ctx, ref, src, dst, o)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".strata-cp-")
	if err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := s.extractFrom(ctx, ref, src, tmp, o); err != nil {
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

func (s *Store) extractFrom(ctx context.Context, ref, src, dir string, o CopyOptions) error {
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		// Ends when the tar is written, on an error, or when Apply stops
		// reading and closes pr.
		err := s.CopyFrom(ctx, ref, src, pw, o)
		pw.CloseWithError(err)
		copied <- err
	}()
	// Without -a the files are the caller's, as docker's cp makes them.
	_, err := archive.Apply(ctx, dir, pr, archive.ApplyOptions{NoSameOwner: !o.Archive})
	pr.CloseWithError(errors.New("cp: extraction stopped"))
	if cerr := <-copied; errdefs.IsNotFound(cerr) {
		return cerr // the path is not in the container: say only that
	}
	if err != nil {
		return fmt.Errorf("cp %s:%s: %w", ref, src, err)
	}
	return nil
}

// CopyIn copies the host's src into the container: under its own name
// into dst when dst is a directory there, else as dst.
func (s *Store) CopyIn(ctx context.Context, src, ref, dst string, o CopyOptions) error {
	stat := os.Lstat
	if o.FollowLink {
		stat = os.Stat
	}
	fi, err := stat(src)
	if err != nil {
		return fmt.Errorf("cp: %w", err)
	}
	// A trailing slash (or /.) says dst is a directory, as docker's:
	// it must exist, not be created as a file of that name.
	asDir := strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, "/.")
	given := dst
	dst = path.Clean("/" + dst)
	isDir, exists := s.pathKind(ctx, ref, dst)
	switch {
	case asDir && !exists:
		return fmt.Errorf("destination directory must exist: %s:%s (no such directory): %w", ref, given, errdefs.ErrNotFound)
	case asDir && !isDir:
		return fmt.Errorf("destination %s:%s is not a directory: %w", ref, given, errdefs.ErrInvalidArgument)
	}
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
		from := src
		if o.FollowLink {
			// -L: what the link points to, under the name it gets.
			if t, err := filepath.EvalSymlinks(src); err == nil {
				from = t
			}
		}
		// Without -a the files belong to the container's root.
		pw.CloseWithError(archive.WritePath(ctx, pw, from, name, archive.WriteOptions{NormalizeOwner: !o.Archive}))
	}()
	err = s.CopyTo(ctx, ref, dir, pr)
	pr.CloseWithError(errors.New("cp: copy stopped"))
	return err
}

// pathKind says whether p is a directory in the container and whether it
// exists, from the first header of its tar.
func (s *Store) pathKind(ctx context.Context, ref, p string) (isDir, exists bool) {
	pr, pw := io.Pipe()
	go func() {
		// Ends when the reader below closes after one header.
		pw.CloseWithError(s.CopyFrom(ctx, ref, p, pw, CopyOptions{FollowLink: true}))
	}()
	hdr, err := tar.NewReader(pr).Next()
	pr.CloseWithError(errors.New("enough"))
	if err != nil {
		return false, false
	}
	return hdr.Typeflag == tar.TypeDir, true
}
