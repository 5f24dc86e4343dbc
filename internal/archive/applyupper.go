package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNeedsLower is returned (wrapped) by ApplyOverlay for a layer it cannot
// apply without seeing the layers below: an entry whose parent directory
// the layer does not contain (it may be a lower layer's directory or
// symlink), a hardlink to a file of a lower layer, an opaque marker of a
// directory the layer does not contain or of the root, a 0/0 character
// device, or a trusted.overlay.* / user.overlay.* xattr. The caller then
// applies the layer with Apply onto the full filesystem instead.
var ErrNeedsLower = errors.New("the layer needs its lower layers to be applied")

func needsLower(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNeedsLower, fmt.Sprintf(format, args...))
}

// Upper is what ApplyOverlay learned of a layer.
type Upper struct {
	// Size is the number of bytes read, as Apply returns.
	Size int64
	// RootSet tells whether the layer has a "." entry (whose owner, mode,
	// xattrs and times it gave upper). If not, the caller gives upper the
	// owner and mode of the lower root, as overlayfs shows the upper's.
	RootSet bool
}

// ApplyOverlay applies a layer tar into upper, the empty upper directory of
// an overlayfs mount-to-be, without its lower layers, so layers of one
// image can be applied in any order (or all at once) and stacked later.
// The result is what Apply onto the merged mount would have left in upper:
// ".wh.NAME" becomes an overlay whiteout (a 0/0 character device) replacing
// whatever the layer wrote at NAME; ".wh..wh..opq" makes its directory
// opaque (trusted.overlay.opaque=y) after removing what the layer did not
// write there; a directory the layer makes where it wrote a whiteout is
// made opaque, as overlayfs does. Path rules, hostile-entry checks and the
// index are Apply's. What needs the lower layers fails with ErrNeedsLower
// (see there), leaving upper partly written. Needs root (mknod, trusted
// xattrs).
func ApplyOverlay(ctx context.Context, upper string, r io.Reader, opts ApplyOptions) (Upper, error) {
	a, n, err := apply(ctx, upper, r, opts, true)
	if err != nil {
		return Upper{Size: n}, err
	}
	return Upper{Size: n, RootSet: a.rootSet}, nil
}

// upperWhiteout applies ".wh.NAME" or the opaque marker in dir of an upper
// dir.
func (a *applier) upperWhiteout(dir, base string) error {
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) && base != opaqueMarker {
		return nil // aufs metadata, as Apply
	}
	if base != opaqueMarker {
		name := strings.TrimPrefix(base, whiteoutPrefix)
		if name == "" || name == "." || name == ".." {
			return invalid("whiteout of %q", name)
		}
	}
	if base == opaqueMarker && dir == "." {
		return needsLower("opaque marker of the root")
	}
	pfd, err := openDir(a.rootfd, dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return needsLower("%s is not in the layer", dir)
	}
	if err != nil {
		return resolveErr(dir, err)
	}
	if base == opaqueMarker {
		unix.Close(pfd)
		fd, err := openBeneath(a.rootfd, dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return resolveErr(dir, err)
		}
		if err := setOpaque(fd, "."); err != nil {
			unix.Close(fd)
			return err
		}
		a.touch(dir)
		return a.removeUntouched(fd, dir)
	}
	defer unix.Close(pfd)
	if !a.isRoot {
		return needsLower("a whiteout needs root (mknod)")
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if err := a.remove(pfd, name); err != nil {
		return fmt.Errorf("replace existing: %w", err)
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout: %w", err)
	}
	return nil
}

// setOpaque marks base in the directory pfd ("." for pfd itself) opaque.
func setOpaque(pfd int, base string) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set opaque: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
			return needsLower("opaque directory: %v", err)
		}
		return fmt.Errorf("set opaque: %w", err)
	}
	return nil
}
