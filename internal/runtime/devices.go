package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// DeviceMapping is a parsed --device HOST[:CONTAINER[:PERMS]], docker's
// HostConfig.Devices entry.
type DeviceMapping struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"`
}

// ParseDevice parses --device as docker does: HOST alone is mapped to the
// same path with rwm; HOST:X is HOST:X:rwm when X is a path and HOST:HOST:X
// when X is permissions; both paths are absolute.
func ParseDevice(v string) (DeviceMapping, error) {
	parts := strings.Split(v, ":")
	d := DeviceMapping{CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
		d.PathOnHost, d.PathInContainer = parts[0], parts[0]
	case 2:
		d.PathOnHost, d.PathInContainer = parts[0], parts[1]
		if validDevicePerms(parts[1]) {
			d.PathInContainer, d.CgroupPermissions = parts[0], parts[1]
		}
	case 3:
		d.PathOnHost, d.PathInContainer, d.CgroupPermissions = parts[0], parts[1], parts[2]
	default:
		return d, fmt.Errorf("--device %q: want HOST[:CONTAINER[:PERMISSIONS]]: %w", v, errdefs.ErrInvalidArgument)
	}
	if !validDevicePerms(d.CgroupPermissions) {
		return d, fmt.Errorf("--device %q: permissions %q: want letters of rwm: %w", v, d.CgroupPermissions, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(d.PathOnHost) || !filepath.IsAbs(d.PathInContainer) {
		return d, fmt.Errorf("--device %q: want absolute paths, HOST[:CONTAINER[:PERMISSIONS]]: %w", v, errdefs.ErrInvalidArgument)
	}
	return d, nil
}

func validDevicePerms(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	for _, c := range p {
		if !strings.ContainsRune("rwm", c) || strings.Count(p, string(c)) > 1 {
			return false
		}
	}
	return true
}

// deviceSpec is one device node for the spec and its cgroup rule.
type deviceSpec struct {
	device specs.LinuxDevice
	rule   specs.LinuxDeviceCgroup
}

// deviceSpecs stats a --device's host path: one device node, or for a
// directory every device below it (as docker maps /dev/snd), at the same
// place under the container path.
func deviceSpecs(v string) ([]deviceSpec, error) {
	d, err := ParseDevice(v)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(d.PathOnHost)
	if err != nil {
		return nil, fmt.Errorf("--device %q: %w (want an existing host device or directory of devices: HOST[:CONTAINER[:PERMISSIONS]]): %w", v, err, errdefs.ErrInvalidArgument)
	}
	if !fi.IsDir() {
		dev, ok := deviceNode(d.PathOnHost, d.PathInContainer)
		if !ok {
			return nil, fmt.Errorf("--device %q: %s is not a character or block device: %w", v, d.PathOnHost, errdefs.ErrInvalidArgument)
		}
		return []deviceSpec{{dev, deviceRule(dev, d.CgroupPermissions)}}, nil
	}
	var out []deviceSpec
	err = filepath.WalkDir(d.PathOnHost, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d.PathOnHost, p)
		if dev, ok := deviceNode(p, filepath.Join(d.PathInContainer, rel)); ok {
			out = append(out, deviceSpec{dev, deviceRule(dev, d.CgroupPermissions)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--device %q: %w", v, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--device %q: no device under directory %s: %w", v, d.PathOnHost, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

// deviceNode describes host's device node for the spec, at ctr.
func deviceNode(host, ctr string) (specs.LinuxDevice, bool) {
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return specs.LinuxDevice{}, false
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, false
	}
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path: ctr, Type: typ,
		Major: int64(unix.Major(uint64(st.Rdev))), Minor: int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode, UID: &uid, GID: &gid,
	}, true
}

func deviceRule(d specs.LinuxDevice, perms string) specs.LinuxDeviceCgroup {
	major, minor := d.Major, d.Minor
	return specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: perms}
}

// hostDevices are the device nodes under dir for --privileged, as docker
// gives them: all but the pseudo-terminals, /dev/console (runc makes the
// container's own) and the mounts runc puts there itself.
func hostDevices(dir string) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile
			}
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if p == filepath.Join(dir, "console") {
			return nil
		}
		if e.Type()&fs.ModeDevice == 0 {
			return nil
		}
		if d, ok := deviceNode(p, p); ok {
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("--privileged: list the host's devices: %w", err)
	}
	return out, nil
}
