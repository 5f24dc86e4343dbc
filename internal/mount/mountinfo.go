package mount

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Info is one line of /proc/self/mountinfo (proc(5)).
type Info struct {
	ID, Parent   int
	Major, Minor int
	Root         string // the path within the source filesystem that is mounted
	Mountpoint   string
	Options      string // per-mount options (ro, nosuid…)
	FSType       string
	Source       string
	SuperOptions string // per-superblock options (lowerdir=…)
}

// Self reads the current process's mount table, in mount order.
func Self() ([]Info, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// Lookup returns the mount that holds path: the last-mounted entry whose
// mount point is path or one of its parents.
func Lookup(path string) (Info, error) {
	path = resolve(path)
	infos, err := Self()
	if err != nil {
		return Info{}, fmt.Errorf("look up mount of %s: %w", path, err)
	}
	var best Info
	found := false
	for _, in := range infos {
		if under(in.Mountpoint, path) && (!found || len(in.Mountpoint) >= len(best.Mountpoint)) {
			best, found = in, true
		}
	}
	if !found {
		return Info{}, fmt.Errorf("look up mount of %s: no mount holds it", path)
	}
	return best, nil
}

// MountedUnder returns the mount points at dir or below it, the most
// recently mounted first, which is an order they can be unmounted in.
// A mount point stacked several times is listed once per mount.
func MountedUnder(dir string) ([]string, error) {
	dir = resolve(dir)
	infos, err := Self()
	if err != nil {
		return nil, fmt.Errorf("list mounts under %s: %w", dir, err)
	}
	var out []string
	for i := len(infos) - 1; i >= 0; i-- {
		if under(dir, infos[i].Mountpoint) {
			out = append(out, infos[i].Mountpoint)
		}
	}
	return out, nil
}

// resolve makes path absolute and resolves symlinks as far as it exists, as
// mountinfo shows real paths.
func resolve(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return filepath.Clean(path)
}

// under reports whether path is dir or below it.
func under(dir, path string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

func parseMountinfo(r io.Reader) ([]Info, error) {
	var out []Info
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		line := s.Text()
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("parse mountinfo line %q: no separator", line)
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 6 || len(g) < 2 {
			return nil, fmt.Errorf("parse mountinfo line %q: too few fields", line)
		}
		var in Info
		var err1, err2 error
		in.ID, err1 = strconv.Atoi(f[0])
		in.Parent, err2 = strconv.Atoi(f[1])
		major, minor, _ := strings.Cut(f[2], ":")
		var err3, err4 error
		in.Major, err3 = strconv.Atoi(major)
		in.Minor, err4 = strconv.Atoi(minor)
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				return nil, fmt.Errorf("parse mountinfo line %q: %w", line, err)
			}
		}
		in.Root = unescape(f[3])
		in.Mountpoint = unescape(f[4])
		in.Options = f[5]
		in.FSType = g[0]
		in.Source = unescape(g[1])
		if len(g) > 2 {
			in.SuperOptions = g[2]
		}
		out = append(out, in)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescape undoes the octal escapes (\040 for space, \011, \012, \134)
// the kernel writes in mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
