package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/network"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/volume"
)

// Snapshotter is what the store needs of snapshot.Snapshotter.
type Snapshotter interface {
	Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error)
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	Remove(ctx context.Context, key string) error
	Usage(ctx context.Context, key string) (snapshot.Usage, error)
	UpperDir(ctx context.Context, key string) (string, error)
	ParentDirs(ctx context.Context, key string) ([]string, error)
}

// Options configure Open. Only Root and Snapshotter are required.
type Options struct {
	// Root is the Strata root: containers live in Root/containers and
	// runc's state in Root/runc.
	Root        string
	Snapshotter Snapshotter
	// Driver names the snapshotter (overlay or native), as inspect's
	// GraphDriver shows it.
	Driver string
	// RuncBinary is runc's path (default: "runc" in $PATH).
	RuncBinary string
	// MonitorCommand starts a monitor when the container dir is appended;
	// default: this executable with the hidden "container-monitor" verb.
	MonitorCommand []string
	// RemoveCommand removes a container when its id is appended, run by the
	// monitor of a detached --rm container; default: this executable with
	// "rm -f".
	RemoveCommand []string
	// InitPath is the binary bind-mounted at runtime.InitTarget for --init
	// (default: this executable); InitArgs its arguments (default:
	// [runtime.InitTarget, "init-reaper"]). It must be statically linked
	// (CGO_ENABLED=0) to run in images without a libc.
	InitPath string
	InitArgs []string
	// NoNewPrivileges turns no-new-privileges on for containers whose
	// security options do not say (the engine's configured default;
	// docker's is off).
	NoNewPrivileges bool
	// Networks gives containers the default network and user-defined
	// ones (package network, state in Root/network); without it a
	// container's default is --network none.
	Networks bool
	// SharedInodes, if set, gives archive.WriteOptions.Shared for the
	// tars of a container's rootfs (export, cp): the store's file pool.
	SharedInodes func(ctx context.Context) func(ino uint64) bool
	// Events is the journal container events go to (create, start, die,
	// stop, kill, destroy…; the monitor writes die, oom and a restart's
	// start); nil records none.
	Events *events.Journal
}

// Store keeps container records in directories under Root/containers:
//
//	<root>/containers/
//	├── names/<name> -> <id>   a symlink per name; creating it claims the name
//	└── <id>/
//	    ├── config.json        the Container record (temp file + rename)
//	    ├── state.json         the monitor's runtime.Status
//	    ├── bundle/config.json the OCI runtime spec, written at each start
//	    ├── bundle/rootfs/     the snapshot's mount point while it runs
//	    ├── hostname, hosts, resolv.conf
//	    └── <id>-json.log      stdout and stderr, docker json-file lines
type Store struct {
	root    string
	sn      Snapshotter
	driver  string
	runc    *runtime.Runc
	monitor []string
	remove  []string
	init    string
	initArg []string
	nnp     bool
	net     *network.Manager
	shared  func(ctx context.Context) func(ino uint64) bool
	vols    *volume.Store
	ev      *events.Journal
}

// Open opens (creating) the container store under opts.Root.
func Open(opts Options) (*Store, error) {
	if opts.Root == "" || opts.Snapshotter == nil {
		return nil, fmt.Errorf("open container store: root and snapshotter are required: %w", errdefs.ErrInvalidArgument)
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("open container store: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "containers", "names"), 0o711); err != nil {
		return nil, fmt.Errorf("open container store: %w", err)
	}
	s := &Store{
		root:    root,
		sn:      opts.Snapshotter,
		driver:  opts.Driver,
		runc:    &runtime.Runc{Binary: opts.RuncBinary, Root: filepath.Join(root, "runc")},
		monitor: opts.MonitorCommand,
		remove:  opts.RemoveCommand,
		init:    opts.InitPath,
		initArg: opts.InitArgs,
		nnp:     opts.NoNewPrivileges,
		shared:  opts.SharedInodes,
		ev:      opts.Events,
	}
	if s.monitor == nil || s.remove == nil || s.init == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("open container store: find own executable: %w", err)
		}
		if s.monitor == nil {
			s.monitor = []string{exe, "container-monitor"}
		}
		if s.remove == nil {
			s.remove = []string{exe, "rm", "-f"}
		}
		if s.init == "" {
			s.init = exe
		}
	}
	if s.initArg == nil {
		s.initArg = []string{runtime.InitTarget, "init-reaper"}
	}
	if s.vols, err = volume.Open(filepath.Join(root, "volumes"), volume.Options{InUse: s.volumeUsers, Events: s.ev}); err != nil {
		return nil, err
	}
	if opts.Networks {
		if s.net, err = network.Open(filepath.Join(root, "network"), network.Options{Alive: s.exists, InUse: s.networkUsers, Events: s.ev}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Runc returns the runc the store drives.
func (s *Store) Runc() *runtime.Runc { return s.runc }

// Container is a container's record (config.json).
type Container struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// ImageRef is the image as the user named it, ImageID its config
	// digest, ChainID its top layer's snapshot.
	ImageRef string              `json:"imageRef"`
	ImageID  string              `json:"imageID"`
	ChainID  string              `json:"chainID"`
	Config   ocispec.ImageConfig `json:"imageConfig"`
	// Path and Args are the command as resolved at create (for ps).
	Path        string                `json:"path"`
	Args        []string              `json:"args"`
	Options     CreateOptions         `json:"options"`
	SnapshotKey string                `json:"snapshotKey"`
	Ports       []runtime.PortMapping `json:"ports,omitempty"`
	// Connected are the networks joined with "network connect", beside
	// Options.Network.
	Connected []network.Request `json:"connected,omitempty"`
	// MountPoints are the binds, volumes and tmpfs mounts create resolved
	// from -v, --mount, --volumes-from and the image's VOLUMEs.
	MountPoints []volume.MountPoint `json:"mountPoints,omitempty"`
}

// ShortID is docker's 12-character form of an ID.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (s *Store) containersDir() string    { return filepath.Join(s.root, "containers") }
func (s *Store) dir(id string) string     { return filepath.Join(s.containersDir(), id) }
func (s *Store) nameLink(n string) string { return filepath.Join(s.containersDir(), "names", n) }

// Dir returns the directory of container id.
func (s *Store) Dir(id string) string { return s.dir(id) }

func (s *Store) logPath(id string) string { return filepath.Join(s.dir(id), id+"-json.log") }

func (s *Store) rootfs(id string) string { return filepath.Join(s.dir(id), "bundle", "rootfs") }

var idPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// claimName reserves name for id by creating its symlink; a link whose
// container is gone is taken over.
func (s *Store) claimName(name, id string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	for range 2 {
		err := os.Symlink(id, s.nameLink(name))
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("claim name %s: %w", name, err)
		}
		other, rerr := os.Readlink(s.nameLink(name))
		if rerr == nil {
			// A container being created has its directory before its
			// record (Create makes it before claiming the name), so a
			// concurrent create of the same name is refused too; a
			// directory a killed create left without a record for a
			// minute is taken over.
			fi, serr := os.Stat(s.dir(other))
			_, cerr := os.Stat(filepath.Join(s.dir(other), "config.json"))
			if cerr == nil || (serr == nil && time.Since(fi.ModTime()) < time.Minute) {
				return fmt.Errorf("the container name \"/%s\" is already in use by container %q: remove (strata rm) or rename that container to reuse the name: %w", name, other, errdefs.ErrConflict)
			}
		}
		_ = os.Remove(s.nameLink(name))
	}
	return fmt.Errorf("claim name %s: %w", name, errdefs.ErrConflict)
}

func (s *Store) save(c *Container) error {
	write := runtime.WriteFileAtomic
	if c.Options.AutoRemove {
		// A --rm container is gone once its run ends: a crash that loses
		// its record (the file stays whole or empty, never torn) costs
		// nothing worth an fsync on every run.
		write = runtime.WriteFileAtomicNoSync
	}
	if err := write(filepath.Join(s.dir(c.ID), "config.json"), c); err != nil {
		return fmt.Errorf("save container %s: %w", ShortID(c.ID), err)
	}
	return nil
}

func (s *Store) load(id string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(s.dir(id), "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no such container: %s: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read container %s: %w", ShortID(id), err)
	}
	return &c, nil
}

// Get finds a container by full ID, name or unique ID prefix.
func (s *Store) Get(ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, fmt.Errorf("no such container: %q: %w", ref, errdefs.ErrNotFound)
	}
	if idPattern.MatchString(ref) {
		return s.load(ref)
	}
	if id, err := os.Readlink(s.nameLink(ref)); err == nil && namePattern.MatchString(ref) {
		if c, err := s.load(id); err == nil {
			return c, nil
		}
	}
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("no such container: %s: %w", ref, errdefs.ErrNotFound)
	case 1:
		return s.load(match[0])
	}
	return nil, fmt.Errorf("container prefix %s is ambiguous (%d matches): %w", ref, len(match), errdefs.ErrInvalidArgument)
}

// ids lists the IDs of all containers with a record, sorted.
func (s *Store) ids() ([]string, error) {
	ents, err := os.ReadDir(s.containersDir())
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []string
	for _, e := range ents {
		if idPattern.MatchString(e.Name()) {
			if _, err := os.Stat(filepath.Join(s.containersDir(), e.Name(), "config.json")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Users returns the IDs of containers made from imageID (for rmi's check
// and garbage collection's roots), with their names.
func (s *Store) Users(imageID string) (map[string]string, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, id := range ids {
		c, err := s.load(id)
		if err == nil && c.ImageID == imageID {
			out[id] = c.Name
		}
	}
	return out, nil
}

// All returns the record of every container (for garbage collection's
// roots: each one's snapshot key and image), sorted by ID.
func (s *Store) All() ([]*Container, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, id := range ids {
		if c, err := s.load(id); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func writeFile(path string, data string) error {
	return os.WriteFile(path, []byte(data), 0o644)
}

var _ = io.Discard
