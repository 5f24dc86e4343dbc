package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

// resolvedUser is a specs.User plus the home directory for $HOME.
type resolvedUser struct {
	specs.User
	home string
}

// ResolveUser resolves docker's --user syntax, name|uid[:group|gid],
// against rootfs/etc/passwd and rootfs/etc/group. The empty string is
// root. A numeric uid need not be in passwd (its gid is then 0); a name
// must be. Supplementary groups are the groups that list the user.
func ResolveUser(rootfs, user string) (specs.User, error) {
	u, err := resolveUser(rootfs, user)
	return u.User, err
}

func resolveUser(rootfs, user string) (resolvedUser, error) {
	if user == "" {
		user = "0"
	}
	name, group, hasGroup := strings.Cut(user, ":")
	passwd, err := readColonFile(rootfs, "/etc/passwd")
	if err != nil {
		return resolvedUser{}, err
	}
	out := resolvedUser{home: "/"}
	found := false
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		out.UID = uint32(uid)
		for _, f := range passwd {
			if len(f) >= 6 && f[2] == name {
				gid, _ := strconv.ParseUint(f[3], 10, 32)
				out.GID, out.home, name, found = uint32(gid), f[5], f[0], true
				break
			}
		}
	} else {
		for _, f := range passwd {
			if len(f) >= 6 && f[0] == name {
				uid, err1 := strconv.ParseUint(f[2], 10, 32)
				gid, err2 := strconv.ParseUint(f[3], 10, 32)
				if err1 != nil || err2 != nil {
					return resolvedUser{}, fmt.Errorf("user %q: bad passwd entry: %w", name, errdefs.ErrInvalidArgument)
				}
				out.UID, out.GID, out.home, found = uint32(uid), uint32(gid), f[5], true
				break
			}
		}
		if !found {
			return resolvedUser{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file: %w", name, errdefs.ErrNotFound)
		}
	}
	if out.home == "" {
		out.home = "/"
	}
	groups, err := readColonFile(rootfs, "/etc/group")
	if err != nil {
		return resolvedUser{}, err
	}
	if hasGroup {
		if gid, err := strconv.ParseUint(group, 10, 32); err == nil {
			out.GID = uint32(gid)
		} else {
			ok := false
			for _, f := range groups {
				if len(f) >= 3 && f[0] == group {
					gid, err := strconv.ParseUint(f[2], 10, 32)
					if err != nil {
						break
					}
					out.GID, ok = uint32(gid), true
					break
				}
			}
			if !ok {
				return resolvedUser{}, fmt.Errorf("unable to find group %s: no matching entries in group file: %w", group, errdefs.ErrNotFound)
			}
		}
	}
	if found {
		for _, f := range groups {
			if len(f) < 4 {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == name {
					if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(gid) != out.GID {
						out.AdditionalGids = append(out.AdditionalGids, uint32(gid))
					}
				}
			}
		}
	}
	return out, nil
}

// readColonFile reads a passwd(5)-style file inside rootfs, split into
// fields. A missing file is empty. A symlink is not followed, so a hostile
// image cannot point the lookup at a host file.
func readColonFile(rootfs, name string) ([][]string, error) {
	if rootfs == "" {
		return nil, nil
	}
	p := filepath.Join(rootfs, name)
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return nil, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	var out [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}
