package archive

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// whiteoutTime is the mtime of generated whiteouts and opaque markers: they
// carry no data, and a fixed time keeps diffs reproducible.
var whiteoutTime = time.Unix(0, 0).UTC()

// WriteOverlayDiff writes the layer recorded in an overlayfs upper dir,
// without looking at any lower dir: a char device 0/0 (overlayfs's whiteout)
// becomes ".wh.NAME"; a directory with the xattr trusted.overlay.opaque=y (or
// user.overlay.opaque=y, for userxattr mounts) becomes its dir entry followed
// by "DIR/.wh..wh..opq"; everything else is written as WriteDir writes it,
// minus the trusted.overlay.* and user.overlay.* xattrs.
//
// The upper dir must come from a mount without metacopy and redirect_dir
// (the kernel defaults): with them, files and renamed dirs in upper hold
// only metadata pointing into lower, which this does not follow.
func WriteOverlayDiff(ctx context.Context, w io.Writer, upper string, opts WriteOptions) error {
	tw := newTarWriter(w, opts, isOverlayXattr)
	err := walk(ctx, upper, func(full, rel string, d fs.DirEntry) error {
		var st unix.Stat_t
		if err := unix.Lstat(full, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: full, Err: err}
		}
		if isOverlayWhiteout(&st) {
			return tw.whiteout(rel, whiteoutTime)
		}
		hdr, err := tw.header(full, rel, &st)
		if err != nil || hdr == nil {
			return err
		}
		if err := tw.writeHeader(full, hdr); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && isOverlayOpaque(full) {
			return tw.emptyFile(rel+"/"+opaqueMarker, whiteoutTime)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write overlay diff of %s: %w", upper, err)
	}
	return tw.Close()
}

func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

func isOverlayWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isOverlayOpaque(full string) bool {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if v, err := getXattr(full, name); err == nil && string(v) == "y" {
			return true
		}
	}
	return false
}

// OverlayChanges lists the changes recorded in an overlayfs upper dir, as
// `docker diff` shows them: 'D' for a whiteout, 'C' for an entry whose path
// exists in the lower layers (lowerExists is asked with the absolute-style
// path, "/etc/passwd"), 'A' otherwise. The order is upper's sorted walk.
func OverlayChanges(ctx context.Context, upper string, lowerExists func(path string) bool) ([]Change, error) {
	var out []Change
	err := walk(ctx, upper, func(full, rel string, d fs.DirEntry) error {
		p := "/" + rel
		if d.Type()&fs.ModeCharDevice != 0 {
			var st unix.Stat_t
			if err := unix.Lstat(full, &st); err != nil {
				return &fs.PathError{Op: "lstat", Path: full, Err: err}
			}
			if isOverlayWhiteout(&st) {
				out = append(out, Change{Kind: 'D', Path: p})
				return nil
			}
		}
		kind := byte('A')
		if lowerExists(p) {
			kind = 'C'
		}
		out = append(out, Change{Kind: kind, Path: p})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes in %s: %w", upper, err)
	}
	return out, nil
}
