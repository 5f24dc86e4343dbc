package volume

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"

	"github.com/strata-project/strata/internal/errdefs"
)

// The mount specs of run and create, as docker reads them: -v (ParseBind),
// --mount (ParseMount), and the checks its daemon makes of either (Check),
// which the Engine API's HostConfig.Mounts get too. Every error is
// errdefs.ErrInvalidArgument and names the spec.

// ParseBind reads -v [SOURCE:]DESTINATION[:MODE] as docker does on Linux:
// a SOURCE starting with / is a host path (a bind, made as a directory if
// missing), any other a volume name (made on first use); no SOURCE is an
// anonymous volume. MODE is a comma list of ro|rw, z|Z, nocopy, one
// propagation (rprivate, private, rshared, shared, rslave, slave) and a
// consistency (consistent, cached, delegated).
func ParseBind(spec string) (mount.Mount, error) {
	bad := func(why string) error {
		if why == "" {
			return fmt.Errorf("invalid volume specification: '%s': want [SOURCE:]DESTINATION[:MODE]: %w", spec, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("invalid volume specification: '%s': %s: %w", spec, why, errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(spec, ":")
	var m mount.Mount
	var mode string
	switch len(parts) {
	case 1:
		m.Target = parts[0]
	case 2:
		if _, err := parseMode(parts[1]); err == nil && !strings.HasPrefix(parts[1], "/") {
			// DESTINATION:MODE: an anonymous volume cannot take a mode.
			return m, bad("")
		}
		m.Source, m.Target = parts[0], parts[1]
	case 3:
		m.Source, m.Target, mode = parts[0], parts[1], parts[2]
	default:
		return m, bad("")
	}
	if m.Target == "" || (len(parts) > 1 && m.Source == "") {
		return m, bad("")
	}
	md, err := parseMode(mode)
	if err != nil {
		return m, fmt.Errorf("invalid volume specification: '%s': %v: %w", spec, err, errdefs.ErrInvalidArgument)
	}
	m.ReadOnly = md.readOnly
	m.Type = mount.TypeVolume
	if filepath.IsAbs(m.Source) {
		m.Type = mount.TypeBind
		m.BindOptions = &mount.BindOptions{CreateMountpoint: true, Propagation: md.propagation}
		if md.noCopy {
			return m, bad("nocopy applies to volumes, not to a host path")
		}
	} else {
		if md.propagation != "" {
			return m, bad("a propagation mode applies to a host path, not to a volume")
		}
		if md.noCopy {
			m.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
		}
	}
	if err := Check(m); err != nil {
		return m, fmt.Errorf("invalid volume specification: '%s': %s: %w", spec, errdefs.Message(err), errdefs.ErrInvalidArgument)
	}
	return m, nil
}

type bindMode struct {
	readOnly    bool
	noCopy      bool
	propagation mount.Propagation
}

// parseMode reads -v's MODE; each kind at most once.
func parseMode(mode string) (bindMode, error) {
	var md bindMode
	if mode == "" {
		return md, nil
	}
	seen := map[string]bool{}
	once := func(kind, _ string) error {
		if seen[kind] {
			return fmt.Errorf("invalid mode: %s (%s given twice)", mode, kind)
		}
		seen[kind] = true
		return nil
	}
	for _, f := range strings.Split(mode, ",") {
		var err error
		switch f {
		case "ro", "rw":
			err = once("ro|rw", f)
			md.readOnly = f == "ro"
		case "z", "Z":
			err = once("z|Z", f) // SELinux relabelling: nothing to do here
		case "nocopy":
			err = once("nocopy", f)
			md.noCopy = true
		case "consistent", "cached", "delegated":
			err = once("consistency", f)
		case "rprivate", "private", "rshared", "shared", "rslave", "slave":
			err = once("propagation", f)
			md.propagation = mount.Propagation(f)
		default:
			return md, fmt.Errorf("invalid mode: %s (want ro or rw, z or Z, nocopy, a propagation: rprivate, private, rshared, shared, rslave, slave)", f)
		}
		if err != nil {
			return md, err
		}
	}
	return md, nil
}

// mountKeys are --mount's keys that take a value; mountBools those that
// may stand alone (true).
var (
	mountKeys = []string{"type", "source", "src", "target", "destination", "dst", "consistency",
		"bind-propagation", "bind-recursive", "volume-driver", "volume-label", "volume-opt", "volume-subpath",
		"tmpfs-size", "tmpfs-mode"}
	mountBools = []string{"readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src"}
)

// ParseMount reads --mount's comma-separated KEY=VALUE list as the docker
// CLI does (type=bind|volume|tmpfs, source|src, target|destination|dst,
// readonly|ro, bind-propagation, volume-nocopy, volume-label,
// volume-driver, volume-opt, tmpfs-size, tmpfs-mode), then checks it as
// its daemon does (Check).
func ParseMount(value string) (mount.Mount, error) {
	var m mount.Mount
	bad := func(format string, a ...any) error {
		return fmt.Errorf("invalid argument %q for \"--mount\" flag: %s: %w", value, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
	}
	r := csv.NewReader(strings.NewReader(value))
	fields, err := r.Read()
	if err != nil {
		return m, bad("%v", err)
	}
	m.Type = mount.TypeVolume
	bindOpts := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	volOpts := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasVal := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		isBool := false
		for _, b := range mountBools {
			isBool = isBool || key == b
		}
		known := isBool
		for _, k := range mountKeys {
			known = known || key == k
		}
		if !known {
			return m, bad("unexpected key '%s' in '%s'", key, field)
		}
		if !hasVal && !isBool {
			return m, bad("invalid field '%s' must be a key=value pair", field)
		}
		boolVal := func() (bool, error) {
			if !hasVal {
				return true, nil
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return false, bad("invalid value for %s: %s", key, val)
			}
			return b, nil
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = boolVal(); err != nil {
				return m, err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bindOpts().NonRecursive, err = boolVal(); err != nil {
				return m, err
			}
		case "bind-create-src":
			if bindOpts().CreateMountpoint, err = boolVal(); err != nil {
				return m, err
			}
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bindOpts().NonRecursive = true
			case "writable", "readonly":
				return m, bad("bind-recursive=%s is not supported by Strata (want enabled or disabled)", val)
			default:
				return m, bad("invalid value for %s: %s (want enabled or disabled)", key, val)
			}
		case "volume-nocopy":
			if volOpts().NoCopy, err = boolVal(); err != nil {
				return m, err
			}
		case "volume-label":
			k, v, _ := strings.Cut(val, "=")
			if volOpts().Labels == nil {
				m.VolumeOptions.Labels = map[string]string{}
			}
			m.VolumeOptions.Labels[k] = v
		case "volume-driver":
			if volOpts().DriverConfig == nil {
				m.VolumeOptions.DriverConfig = &mount.Driver{}
			}
			m.VolumeOptions.DriverConfig.Name = val
		case "volume-opt":
			k, v, ok := strings.Cut(val, "=")
			if !ok {
				return m, bad("invalid value for %s: %s (want KEY=VALUE)", key, val)
			}
			if volOpts().DriverConfig == nil {
				m.VolumeOptions.DriverConfig = &mount.Driver{}
			}
			if m.VolumeOptions.DriverConfig.Options == nil {
				m.VolumeOptions.DriverConfig.Options = map[string]string{}
			}
			m.VolumeOptions.DriverConfig.Options[k] = v
		case "volume-subpath":
			volOpts().Subpath = val
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil || n < 0 {
				return m, bad("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return m, bad("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().Mode = os.FileMode(n)
		}
	}
	if m.Target == "" {
		return m, bad("target is required")
	}
	for _, mix := range []struct {
		set  bool
		kind mount.Type
	}{{m.BindOptions != nil, mount.TypeBind}, {m.VolumeOptions != nil, mount.TypeVolume}, {m.TmpfsOptions != nil, mount.TypeTmpfs}} {
		if mix.set && m.Type != mix.kind {
			return m, bad("cannot mix '%s-*' options with mount type '%s'", mix.kind, m.Type)
		}
	}
	if err := Check(m); err != nil {
		return m, bad("%s", errdefs.Message(err))
	}
	return m, nil
}

// Check is docker's daemon-side check of a mount: a known type, an
// absolute DESTINATION other than /, the fields each type may have, an
// existing host path for a bind (unless BindOptions.CreateMountpoint), a
// valid volume name and local driver options.
func Check(m mount.Mount) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("invalid mount config for type %q: %s: %w", m.Type, fmt.Sprintf(format, a...), errdefs.ErrInvalidArgument)
	}
	switch m.Type {
	case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs:
	case "":
		return fmt.Errorf("invalid mount config: the type is required (bind, volume or tmpfs): %w", errdefs.ErrInvalidArgument)
	case mount.TypeNamedPipe, mount.TypeCluster, mount.TypeImage:
		return bad("not supported by Strata (want bind, volume or tmpfs)")
	default:
		return bad("mount type unknown (want bind, volume or tmpfs)")
	}
	if !filepath.IsAbs(m.Target) {
		return bad("invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	if filepath.Clean(m.Target) == "/" {
		return bad("invalid specification: destination can't be '/'")
	}
	switch c := m.Consistency; c {
	case "", mount.ConsistencyFull, mount.ConsistencyCached, mount.ConsistencyDelegated, mount.ConsistencyDefault:
	default:
		return bad("unknown consistency %q (want consistent, cached, delegated or default)", c)
	}
	if m.ImageOptions != nil || m.ClusterOptions != nil {
		return bad("field ImageOptions or ClusterOptions must not be specified")
	}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return bad("field Source must not be empty")
		}
		if m.VolumeOptions != nil {
			return bad("field VolumeOptions must not be specified")
		}
		if m.TmpfsOptions != nil {
			return bad("field TmpfsOptions must not be specified")
		}
		if !filepath.IsAbs(m.Source) {
			return bad("invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		if o := m.BindOptions; o != nil {
			if err := checkPropagation(o.Propagation); err != nil {
				return bad("%v", err)
			}
			if o.ReadOnlyForceRecursive || o.ReadOnlyNonRecursive {
				return bad("BindOptions.ReadOnlyNonRecursive and ReadOnlyForceRecursive are not supported by Strata")
			}
		}
		if m.BindOptions == nil || !m.BindOptions.CreateMountpoint {
			if _, err := os.Stat(m.Source); err != nil {
				return bad("bind source path does not exist: %s", m.Source)
			}
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return bad("field BindOptions must not be specified")
		}
		if m.TmpfsOptions != nil {
			return bad("field TmpfsOptions must not be specified")
		}
		if m.Source != "" {
			if err := CheckName(m.Source); err != nil {
				return bad("%s", errdefs.Message(err))
			}
		}
		if o := m.VolumeOptions; o != nil {
			if o.Subpath != "" {
				return bad("volume-subpath is not supported by Strata")
			}
			if d := o.DriverConfig; d != nil {
				if d.Name != "" && d.Name != Driver {
					return bad("volume driver %q is not supported (Strata has the local driver)", d.Name)
				}
				if err := CheckOptions(m.Source, d.Options); err != nil {
					return bad("%s", errdefs.Message(err))
				}
			}
		}
	case mount.TypeTmpfs:
		if m.Source != "" {
			return bad("field Source must not be specified")
		}
		if m.BindOptions != nil {
			return bad("field BindOptions must not be specified")
		}
		if m.VolumeOptions != nil {
			return bad("field VolumeOptions must not be specified")
		}
		if o := m.TmpfsOptions; o != nil {
			if o.SizeBytes < 0 {
				return bad("invalid tmpfs size %d", o.SizeBytes)
			}
			if o.Mode > 0o7777 {
				return bad("invalid tmpfs mode %v", o.Mode)
			}
			if len(o.Options) > 0 {
				return bad("TmpfsOptions.Options is not supported by Strata (use tmpfs-size and tmpfs-mode)")
			}
		}
	}
	return nil
}

func checkPropagation(p mount.Propagation) error {
	if p == "" {
		return nil
	}
	for _, q := range mount.Propagations {
		if p == q {
			return nil
		}
	}
	return fmt.Errorf("invalid propagation mode: %s (want rprivate, private, rshared, shared, rslave or slave)", p)
}
