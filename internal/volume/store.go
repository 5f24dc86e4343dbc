package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/proc"
)

// Driver is the only volume driver: docker's local one.
const Driver = "local"

// AnonymousLabel marks a volume made for a container without a name (an
// image's VOLUME, -v /path), as docker 23+ marks them; volume prune
// removes only these unless told --all, and rm -v and --rm remove them
// with their container.
const AnonymousLabel = "com.docker.volume.anonymous"

// Volume is a volume's record (volume.json).
type Volume struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Options are the local driver's: type, o, device.
	Options map[string]string `json:"options,omitempty"`
	// Mountpoint is <root>/volumes/<name>/_data (not stored).
	Mountpoint string `json:"-"`
}

// Anonymous reports whether v was made for a container without a name.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// Mounted reports whether the volume's options make mount(2) give it (a
// tmpfs, a bind of device), rather than its _data directory.
func (v *Volume) Mounted() bool { return len(v.Options) > 0 }

// Options configure Open.
type Options struct {
	// InUse names the containers that use volume name (their names, or
	// IDs), for rm and prune to refuse or skip it. Nil: none do.
	InUse func(name string) []string
	// Events is the journal volume events go to (create, mount,
	// destroy; see Event); nil records none.
	Events *events.Journal
}

// Store is the local driver's volumes under one directory.
type Store struct {
	dir   string
	inUse func(string) []string
	ev    *events.Journal
}

const (
	recordFile     = "volume.json"
	dataDir        = "_data"
	creatingPrefix = ".creating-"
	dirMode        = 0o700
)

// Open opens (creating, 0700) the volumes directory dir and removes what
// processes that died left half made.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("open volumes: %w", err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return nil, fmt.Errorf("open volumes: %w", err)
	}
	s := &Store{dir: dir, inUse: opts.InUse, ev: opts.Events}
	if s.inUse == nil {
		s.inUse = func(string) []string { return nil }
	}
	s.cleanDead()
	return s, nil
}

// cleanDead removes the staging directories of dead processes: volumes
// and copies cut short by a kill.
func (s *Store) cleanDead() {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if pid, ok := stagingOwner(e.Name(), creatingPrefix); ok && !proc.Alive(pid) {
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
}

// stagingOwner reads the pid of a staging name PREFIX<pid>-<rand>.
func stagingOwner(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	p, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(p)
	return pid, err == nil
}

func stagingName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(b))
}

// Dir is the volumes directory.
func (s *Store) Dir() string { return s.dir }

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CheckName checks a volume name as docker's local driver does.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path: %w",
			name, name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// driverOptions are the local driver's options (docker's).
var driverOptions = []string{"type", "o", "device"}

// CheckOptions checks the local driver's options: only type, o and
// device; device with o=bind must be an absolute path.
func CheckOptions(name string, opts map[string]string) error {
	for k := range opts {
		found := false
		for _, o := range driverOptions {
			found = found || k == o
		}
		if !found {
			return fmt.Errorf("create %s: invalid option: %q (the local driver takes type, o and device): %w", name, k, errdefs.ErrInvalidArgument)
		}
	}
	if len(opts) > 0 && opts["type"] == "" {
		return fmt.Errorf("create %s: the local driver's options need type (type=tmpfs, or type=none with o=bind and device=HOST_PATH): %w", name, errdefs.ErrInvalidArgument)
	}
	if bindOption(opts["o"]) {
		if d := opts["device"]; !filepath.IsAbs(d) {
			return fmt.Errorf("create %s: o=bind needs device=HOST_PATH, an absolute path (got %q): %w", name, d, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

func bindOption(o string) bool {
	for _, f := range strings.Split(o, ",") {
		if f == "bind" || f == "rbind" {
			return true
		}
	}
	return false
}

// CreateOptions are volume create's.
type CreateOptions struct {
	// Name is the volume's; empty makes a random 64-hex one.
	Name   string
	Driver string // "" or "local"
	Labels map[string]string
	// Options are the local driver's (--opt): type, o, device.
	Options map[string]string
}

// Create makes a volume, or returns the existing one of that name (as
// docker's create does). The boolean reports whether it was made now.
func (s *Store) Create(o CreateOptions) (*Volume, bool, error) {
	if o.Driver != "" && o.Driver != Driver {
		return nil, false, fmt.Errorf("create %s: volume driver %q is not supported (Strata has the local driver): %w", o.Name, o.Driver, errdefs.ErrInvalidArgument)
	}
	name := o.Name
	if name == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, false, err
		}
		name = hex.EncodeToString(b)
	}
	if err := CheckName(name); err != nil {
		return nil, false, err
	}
	if err := CheckOptions(name, o.Options); err != nil {
		return nil, false, err
	}
	if v, err := s.Get(name); err == nil {
		return v, false, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, false, err
	}
	v := &Volume{Name: name, Driver: Driver, CreatedAt: time.Now().UTC().Truncate(time.Second), Labels: o.Labels, Options: o.Options}
	staging := filepath.Join(s.dir, stagingName(creatingPrefix))
	defer os.RemoveAll(staging) // gone after the rename; left by a failure
	if err := os.Mkdir(staging, dirMode); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	// _data is root's and 0755, as docker's: a container's non-root user
	// may read it; a host user cannot reach it through the 0700 above.
	if err := os.Mkdir(filepath.Join(staging, dataDir), 0o755); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.Chmod(filepath.Join(staging, dataDir), 0o755); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := writeRecord(filepath.Join(staging, recordFile), v); err != nil {
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := os.Rename(staging, s.path(name)); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			// Made by another process meanwhile: that one is it.
			v, gerr := s.Get(name)
			return v, false, gerr
		}
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	syncDir(s.dir)
	v.Mountpoint = s.Mountpoint(name)
	return v, true, nil
}

func writeRecord(path string, v *Volume) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// Mountpoint is the directory holding volume name's data.
func (s *Store) Mountpoint(name string) string { return filepath.Join(s.dir, name, dataDir) }

// Get returns volume name; errdefs.ErrNotFound says docker's "No such
// volume".
func (s *Store) Get(name string) (*Volume, error) {
	if !namePattern.MatchString(name) {
		return nil, noSuch(name)
	}
	b, err := os.ReadFile(filepath.Join(s.path(name), recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noSuch(name)
	}
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	var v Volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("volume %s: bad record: %w", name, err)
	}
	v.Name = name
	v.Mountpoint = s.Mountpoint(name)
	// A copy-up cut short between its renames leaves no _data: the
	// volume is empty, and the next use copies again.
	if _, err := os.Lstat(v.Mountpoint); errors.Is(err, fs.ErrNotExist) {
		_ = os.Mkdir(v.Mountpoint, 0o755)
	}
	return &v, nil
}

func noSuch(name string) error {
	return fmt.Errorf("No such volume: %s: %w", name, errdefs.ErrNotFound)
}

// List returns every volume, by name.
func (s *Store) List() ([]*Volume, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		v, err := s.Get(e.Name())
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Users names the containers using volume name.
func (s *Store) Users(name string) []string { return s.inUse(name) }

// Remove removes volume name unless a container uses it (errdefs.
// ErrConflict naming them). The volume disappears by one rename, then its
// data is deleted.
func (s *Store) Remove(name string) error {
	if _, err := s.Get(name); err != nil {
		return err
	}
	if users := s.inUse(name); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - [%s]: remove the container first: %w",
			name, strings.Join(users, ", "), errdefs.ErrConflict)
	}
	gone := filepath.Join(s.dir, stagingName(creatingPrefix))
	if err := os.Rename(s.path(name), gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return noSuch(name)
		}
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// Size is the size of volume name's data as docker's system df counts
// it: the regular files' sizes, each hardlinked inode once.
func (s *Store) Size(name string) int64 {
	seen := map[[2]uint64]bool{}
	var n int64
	_ = filepath.WalkDir(s.Mountpoint(name), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			k := [2]uint64{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		n += fi.Size()
		return nil
	})
	return n
}
