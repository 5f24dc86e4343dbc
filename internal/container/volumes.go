package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/volume"
)

// A container's mounts: create resolves -v, --mount, --volumes-from and
// the image's VOLUMEs into volume.MountPoints kept in the record (making
// the volumes they name), each start copies the image's content into the
// empty volumes and gives the runtime spec their mounts, and rm -v (or
// --rm) removes the anonymous volumes made for the container.

// Volumes is the volume store (Root/volumes) the containers mount from.
func (s *Store) Volumes() *volume.Store { return s.vols }

// volumeUsers names the containers, running or not, whose mounts use
// volume name, as "name (short ID)".
func (s *Store) volumeUsers(name string) []string {
	var out []string
	for _, c := range s.recordsWhere(func(c *Container) bool {
		return slices.ContainsFunc(c.MountPoints, func(p volume.MountPoint) bool { return p.Type == mount.TypeVolume && p.Name == name })
	}) {
		out = append(out, c.Name+" ("+ShortID(c.ID)+")")
	}
	return out
}

// resolveMounts resolves opts' mounts into mount points, making the
// volumes they name; made are the volumes made now, for a failed create
// to remove.
func (s *Store) resolveMounts(opts *CreateOptions) (points []volume.MountPoint, made []string, err error) {
	req := volume.Request{Binds: opts.Binds, Mounts: opts.Mounts, Anonymous: append([]string{}, opts.Volumes...)}
	for _, t := range opts.Security.Tmpfs {
		path, _, _ := strings.Cut(t, ":")
		req.Taken = append(req.Taken, path)
	}
	for _, from := range opts.VolumesFrom {
		ref, mode, _ := strings.Cut(from, ":")
		switch mode {
		case "", "ro", "rw":
		default:
			return nil, nil, fmt.Errorf("--volumes-from %q: invalid mode %q (want CONTAINER[:ro|:rw]): %w", from, mode, errdefs.ErrInvalidArgument)
		}
		src, err := s.Get(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("--volumes-from %s: %w", ref, err)
		}
		for _, p := range src.mountPoints() {
			if p.Type == mount.TypeTmpfs {
				continue // docker shares volumes and binds, not tmpfs
			}
			if mode != "" {
				p.RW = mode == "rw"
				p.Mode = mode
			}
			req.From = append(req.From, p)
		}
	}
	for d := range opts.Config.Volumes {
		req.Anonymous = append(req.Anonymous, d)
	}
	return s.vols.Resolve(req)
}

// mountPoints are c's mounts; a record from before volumes has only
// binds, read again here (they make nothing).
func (c *Container) mountPoints() []volume.MountPoint {
	if c.MountPoints != nil || len(c.Options.Binds) == 0 {
		return c.MountPoints
	}
	var out []volume.MountPoint
	for _, b := range c.Options.Binds {
		if m, err := volume.ParseBind(b); err == nil && m.Type == mount.TypeBind {
			out = append(out, volume.MountPoint{Type: mount.TypeBind, Source: filepath.Clean(m.Source), Destination: filepath.Clean(m.Target), RW: !m.ReadOnly, Propagation: mount.PropagationRPrivate})
		}
	}
	return out
}

// runtimeMounts copies the image's content (seen in the mounted rootfs)
// into c's empty volumes at its first start, as docker does once per
// container, and returns the runtime-spec mounts of c's mount points.
func (s *Store) runtimeMounts(ctx context.Context, c *Container, rootfs string) ([]specs.Mount, error) {
	_, err := os.Stat(filepath.Join(s.dir(c.ID), runtime.StatusFile))
	first := errors.Is(err, fs.ErrNotExist)
	var out []specs.Mount
	for _, p := range c.mountPoints() {
		if p.Type == mount.TypeVolume && !p.NoCopy && first {
			src, err := secureJoin(rootfs, p.Destination)
			if err == nil {
				if err := s.vols.CopyUp(ctx, p.Name, src); err != nil {
					return nil, err
				}
			}
		}
		m, err := s.vols.RuntimeMount(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// removeVolumes removes the anonymous volumes made for c that no other
// container uses (rm -v, --rm).
func (s *Store) removeVolumes(c *Container) error {
	for _, p := range c.MountPoints {
		if p.Type != mount.TypeVolume || !p.Anonymous {
			continue
		}
		err := s.vols.Remove(p.Name)
		if err == nil {
			s.vols.Event("destroy", p.Name, nil)
		}
		if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
			return fmt.Errorf("remove volume %s of %s: %w", p.Name, c.Name, err)
		}
	}
	return nil
}

// mountEvents records the mount of each of c's volumes at its start.
func (s *Store) mountEvents(c *Container) {
	for _, p := range c.MountPoints {
		if p.Type == mount.TypeVolume {
			s.vols.Event("mount", p.Name, map[string]string{"container": c.ID, "destination": p.Destination, "read/write": strconv.FormatBool(p.RW)})
		}
	}
}
