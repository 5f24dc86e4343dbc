package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

// MountPoint is one mount of a container as create resolved it: what
// inspect's Mounts shows and what each start mounts.
type MountPoint struct {
	Type mount.Type `json:"type"`
	// Name is the volume's (a volume mount).
	Name string `json:"name,omitempty"`
	// Source is the host path of a bind.
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	// Mode is docker's: the -v MODE as given ("z" for a volume without
	// one), "" for --mount.
	Mode        string            `json:"mode,omitempty"`
	RW          bool              `json:"rw"`
	Propagation mount.Propagation `json:"propagation,omitempty"`
	// NoCopy leaves an empty volume empty (no copy of the image's content).
	NoCopy bool `json:"noCopy,omitempty"`
	// Anonymous: the volume was made for this container without a name;
	// rm -v and --rm remove it.
	Anonymous bool `json:"anonymous,omitempty"`
	// CreateSource makes a missing bind source a directory (-v's way).
	CreateSource bool `json:"createSource,omitempty"`
	// NonRecursive binds without the mounts under the source.
	NonRecursive bool `json:"nonRecursive,omitempty"`
	// TmpfsSize and TmpfsMode are a tmpfs mount's size= and mode=.
	TmpfsSize int64       `json:"tmpfsSize,omitempty"`
	TmpfsMode os.FileMode `json:"tmpfsMode,omitempty"`
}

// Request is what a container asks to mount, as create's flags or the
// API's fields give it.
type Request struct {
	// Binds are -v specs (HostConfig.Binds).
	Binds []string
	// Mounts are --mount values (HostConfig.Mounts).
	Mounts []mount.Mount
	// From are the mount points of --volumes-from containers, already in
	// the mode asked for: each is taken unless a mount above has its
	// destination.
	From []MountPoint
	// Anonymous are destinations that get an anonymous volume unless a
	// mount above has them: the image's VOLUMEs, -v /path given through
	// the API's Config.Volumes.
	Anonymous []string
	// Taken are destinations mounted otherwise (--tmpfs): a mount above at
	// one of them is a duplicate.
	Taken []string
}

// Resolve turns req into mount points in mount order (parents before what
// is under them), making the volumes they name that do not exist and an
// anonymous volume for each mount without a name. On error it removes
// the volumes it made. It returns the names of the volumes it made.
func (s *Store) Resolve(req Request) (_ []MountPoint, made []string, err error) {
	var points []MountPoint
	taken := map[string]bool{}
	for _, t := range req.Taken {
		taken[filepath.Clean(t)] = true
	}
	add := func(p MountPoint) error {
		p.Destination = filepath.Clean(p.Destination)
		if taken[p.Destination] {
			return fmt.Errorf("Duplicate mount point: %s: %w", p.Destination, errdefs.ErrInvalidArgument)
		}
		taken[p.Destination] = true
		points = append(points, p)
		return nil
	}
	for _, b := range req.Binds {
		m, err := ParseBind(b)
		if err != nil {
			return nil, nil, err
		}
		p := pointOf(m)
		mode := ""
		if parts := strings.Split(b, ":"); len(parts) == 3 {
			mode = parts[2]
		}
		p.Mode = mode
		if p.Type == mount.TypeVolume && mode == "" {
			p.Mode = "z"
		}
		if err := add(p); err != nil {
			return nil, nil, err
		}
	}
	for _, m := range req.Mounts {
		if err := Check(m); err != nil {
			return nil, nil, err
		}
		if err := add(pointOf(m)); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range req.From {
		if !taken[filepath.Clean(p.Destination)] {
			p.Anonymous = false // the other container's: its rm -v decides
			_ = add(p)
		}
	}
	for _, d := range req.Anonymous {
		if !filepath.IsAbs(d) {
			return nil, nil, fmt.Errorf("invalid volume %q: the path must be absolute: %w", d, errdefs.ErrInvalidArgument)
		}
		if !taken[filepath.Clean(d)] {
			_ = add(MountPoint{Type: mount.TypeVolume, Destination: d, RW: true})
		}
	}
	defer func() {
		if err != nil {
			for _, n := range made {
				_ = s.Remove(n)
			}
			made = nil
		}
	}()
	opts := map[string]mount.Mount{}
	for _, m := range req.Mounts {
		opts[filepath.Clean(m.Target)] = m
	}
	for i := range points {
		p := &points[i]
		if p.Type != mount.TypeVolume {
			continue
		}
		co := CreateOptions{Name: p.Name}
		if o := opts[p.Destination].VolumeOptions; o != nil {
			co.Labels = o.Labels
			if o.DriverConfig != nil {
				co.Driver, co.Options = o.DriverConfig.Name, o.DriverConfig.Options
			}
		}
		if p.Name == "" {
			p.Anonymous = true
			labels := map[string]string{AnonymousLabel: ""}
			for k, v := range co.Labels {
				labels[k] = v
			}
			co.Labels = labels
		}
		v, created, err := s.Create(co)
		if err != nil {
			return nil, made, err
		}
		if created {
			made = append(made, v.Name)
		}
		p.Name = v.Name
	}
	sort.SliceStable(points, func(i, j int) bool { return depth(points[i].Destination) < depth(points[j].Destination) })
	return points, made, nil
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// pointOf is the mount point of a checked mount (its volume not yet made).
func pointOf(m mount.Mount) MountPoint {
	p := MountPoint{Type: m.Type, Destination: m.Target, RW: !m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		p.Source = filepath.Clean(m.Source)
		p.Propagation = mount.PropagationRPrivate
		if o := m.BindOptions; o != nil {
			if o.Propagation != "" {
				p.Propagation = o.Propagation
			}
			p.CreateSource, p.NonRecursive = o.CreateMountpoint, o.NonRecursive
		}
	case mount.TypeVolume:
		p.Name = m.Source
		if o := m.VolumeOptions; o != nil {
			p.NoCopy = o.NoCopy
		}
	case mount.TypeTmpfs:
		if o := m.TmpfsOptions; o != nil {
			p.TmpfsSize, p.TmpfsMode = o.SizeBytes, o.Mode
		}
	}
	return p
}

// Source is where a mount point's data is on the host: a bind's path, a
// volume's data directory; "" for a tmpfs.
func (s *Store) Source(p MountPoint) string {
	switch p.Type {
	case mount.TypeBind:
		return p.Source
	case mount.TypeVolume:
		return s.Mountpoint(p.Name)
	}
	return ""
}

// RuntimeMount is the runtime-spec mount of p: a bind of the host path or
// the volume's data (made if a -v host path is missing), the mount the
// volume's options describe (type=tmpfs, o=bind device=…), or a tmpfs
// with docker's noexec, nosuid, nodev.
func (s *Store) RuntimeMount(p MountPoint) (specs.Mount, error) {
	bind := "rbind"
	if p.NonRecursive {
		bind = "bind"
	}
	ro := func(opts []string) []string {
		if !p.RW {
			opts = append(opts, "ro")
		}
		return opts
	}
	switch p.Type {
	case mount.TypeBind:
		if _, err := os.Stat(p.Source); err != nil && p.CreateSource {
			if err := os.MkdirAll(p.Source, 0o755); err != nil {
				return specs.Mount{}, fmt.Errorf("create the host path %s of a bind: %w", p.Source, err)
			}
		}
		prop := string(p.Propagation)
		if prop == "" {
			prop = string(mount.PropagationRPrivate)
		}
		return specs.Mount{Destination: p.Destination, Type: "bind", Source: p.Source, Options: ro([]string{bind, prop})}, nil
	case mount.TypeVolume:
		v, err := s.Get(p.Name)
		if err != nil {
			return specs.Mount{}, fmt.Errorf("volume %s of %s: %w", p.Name, p.Destination, err)
		}
		if !v.Mounted() {
			return specs.Mount{Destination: p.Destination, Type: "bind", Source: v.Mountpoint, Options: ro([]string{"rbind", "rprivate"})}, nil
		}
		var opts []string
		if o := v.Options["o"]; o != "" {
			opts = strings.Split(o, ",")
		}
		typ, src := v.Options["type"], v.Options["device"]
		if bindOption(v.Options["o"]) {
			typ = "bind"
			opts = append(opts, "rprivate")
		}
		if src == "" {
			src = typ
		}
		return specs.Mount{Destination: p.Destination, Type: typ, Source: src, Options: ro(opts)}, nil
	case mount.TypeTmpfs:
		opts := []string{"noexec", "nosuid", "nodev"}
		if p.TmpfsSize > 0 {
			opts = append(opts, fmt.Sprintf("size=%d", p.TmpfsSize))
		}
		if p.TmpfsMode != 0 {
			opts = append(opts, fmt.Sprintf("mode=%o", uint32(p.TmpfsMode)))
		}
		return specs.Mount{Destination: p.Destination, Type: "tmpfs", Source: "tmpfs", Options: ro(opts)}, nil
	}
	return specs.Mount{}, fmt.Errorf("mount %s: unknown type %q: %w", p.Destination, p.Type, errdefs.ErrInvalidArgument)
}
