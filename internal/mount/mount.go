package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2) call to make: the filesystem Type ("overlay",
// "bind", "tmpfs"…), its Source, and Options written as mount(8) takes them
// ("ro", "rbind", "lowerdir=/a:/b"). Options the kernel knows as flags are
// turned into flags; the rest are passed to the filesystem as data.
type Mount struct {
	Type    string
	Source  string
	Options []string
}

// All mounts each of mounts onto target in order, as a stack. If one fails,
// the ones already mounted by this call are unmounted again and the error
// says which mount failed.
func All(mounts []Mount, target string) error {
	for i, m := range mounts {
		if err := m.Mount(target); err != nil {
			for j := 0; j < i; j++ {
				_ = unmount(target, 0)
			}
			return err
		}
	}
	return nil
}

// Mount mounts m onto target.
func (m Mount) Mount(target string) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("mount %s: %w", target, err)
	}
	o := parseOptions(m.Options)
	fstype := m.Type
	if fstype == "bind" {
		fstype = "none"
		if o.flags&unix.MS_BIND == 0 {
			o.flags |= unix.MS_BIND
		}
	}
	dir := ""
	data := o.data
	if m.Type == "overlay" && len(data) >= pageSize() {
		dir, data, err = compactLowerdir(data)
		if err != nil {
			return fmt.Errorf("mount overlay on %s: %w", target, err)
		}
	}
	if len(data) >= pageSize() {
		return fmt.Errorf("mount %s on %s: options are %d bytes, the kernel takes fewer than %d", m.Type, target, len(data), pageSize())
	}

	// A read-only bind mount needs a remount: MS_RDONLY is ignored when
	// MS_BIND creates the mount. Likewise propagation types take a call of
	// their own.
	flags := o.flags
	bindRO := flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0
	if bindRO {
		flags &^= unix.MS_RDONLY
	}
	if err := mountAt(dir, m.Source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s %s on %s: %w", m.Type, m.Source, target, err)
	}
	if bindRO {
		rflags := uintptr(unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY) | (o.flags &^ (unix.MS_REC | unix.MS_BIND))
		if err := unix.Mount("", target, "", rflags, ""); err != nil {
			_ = unmount(target, 0)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	if o.propagation != 0 {
		if err := unix.Mount("", target, "", o.propagation, ""); err != nil {
			_ = unmount(target, 0)
			return fmt.Errorf("set propagation of %s: %w", target, err)
		}
	}
	return nil
}

// mountAt calls mount(2), from dir as working directory when dir is set, so
// that relative paths in data resolve under dir.
//
// The process's working directory is shared by all its threads and this is
// a library, so it cannot chdir the process. Instead a goroutine locks itself
// to its OS thread, unshares CLONE_FS so that thread gets its own working
// directory, and chdirs there. It never calls runtime.UnlockOSThread: a
// goroutine that exits while locked takes its thread with it, so no other
// goroutine ever runs with the changed directory. The goroutine ends after
// one of unshare, chdir or mount returns, and always sends exactly one value.
func mountAt(dir, source, target, fstype string, flags uintptr, data string) error {
	if dir == "" {
		return unix.Mount(source, target, fstype, flags, data)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs attributes: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- unix.Mount(source, target, fstype, flags, data)
	}()
	return <-errc
}

// compactLowerdir rewrites the lowerdir= option in data relative to the
// lower dirs' longest common parent, and returns that parent.
func compactLowerdir(data string) (dir, compact string, err error) {
	opts := strings.Split(data, ",")
	idx := -1
	for i, o := range opts {
		if strings.HasPrefix(o, "lowerdir=") {
			idx = i
		}
	}
	if idx < 0 {
		return "", "", fmt.Errorf("options are %d bytes and have no lowerdir to shorten", len(data))
	}
	lowers := strings.Split(strings.TrimPrefix(opts[idx], "lowerdir="), ":")
	common := filepath.Dir(lowers[0])
	for _, l := range lowers[1:] {
		for common != "/" && !strings.HasPrefix(l, common+"/") {
			common = filepath.Dir(common)
		}
	}
	if !filepath.IsAbs(common) || common == "/" {
		return "", "", fmt.Errorf("options are %d bytes and the lower dirs share no parent to shorten them with", len(data))
	}
	rel := make([]string, len(lowers))
	for i, l := range lowers {
		rel[i] = strings.TrimPrefix(l, common+"/")
	}
	opts[idx] = "lowerdir=" + strings.Join(rel, ":")
	return common, strings.Join(opts, ","), nil
}

func pageSize() int { return os.Getpagesize() }

type options struct {
	flags       uintptr
	propagation uintptr
	data        string
}

// flagOptions maps mount(8) option names to the flags they set (clear false)
// or clear (clear true).
var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

func parseOptions(opts []string) options {
	var o options
	var data []string
	for _, opt := range opts {
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			o.propagation = p
			continue
		}
		data = append(data, opt)
	}
	o.data = strings.Join(data, ",")
	return o
}
