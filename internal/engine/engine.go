package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/config"
	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/gc"
	"github.com/strata-project/strata/internal/images"
	"github.com/strata-project/strata/internal/layer"
	"github.com/strata-project/strata/internal/metadata"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/filepool"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/snapshot/overlay"
)

// DefaultRoot is where Strata keeps its store unless told otherwise.
const DefaultRoot = "/var/lib/strata"

// Options open an engine.
type Options struct {
	Root string
	// StorageDriver is "overlay", "native" or "" (the root's recorded
	// choice, else overlay where it can be mounted, else native).
	StorageDriver string
	// BlobCacheSize, if not "", overrides the configured budget of the
	// blob cache (Config.BlobCacheSize): --blob-cache-size.
	BlobCacheSize string
}

// Engine is an open Strata root.
type Engine struct {
	root    string
	driver  string
	cfg     Config
	Content *content.Store
	DB      *metadata.DB
	Images  *images.Store
	Snap    snapshot.Snapshotter
	// journal is the event journal (<root>/events) every verb that
	// changes a container, an image or a network appends to (events.go).
	journal *events.Journal
	// pool is the file pool (<root>/files) of the overlay driver, open
	// whether or not new snapshots are deduped, so gc, fsck and export
	// know the files already pooled; nil on the native driver.
	pool *filepool.Pool

	// containers is the container store, opened on first use
	// (Containers): every front end of this engine sees the same one.
	containersOnce sync.Once
	containers     *container.Store
	containersErr  error
	// rootSources are the gc roots beside the images' own, every one the
	// engine owns, registered by Open: the containers' snapshots and
	// images, the build cache's layers. (Cache mounts live outside the
	// content store and the snapshotter, so gc never sweeps them; builder
	// prune does.)
	rootSources []func(ctx context.Context) (gc.Roots, error)
}

// Open opens (creating if needed) the root.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	root := opts.Root
	if root == "" {
		root = DefaultRoot
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, storeErr(root, err)
	}
	cfg, err := config.Load(root)
	if err != nil {
		return nil, err
	}
	if opts.BlobCacheSize != "" {
		n, err := config.ParseByteSize("--blob-cache-size", opts.BlobCacheSize)
		if err != nil {
			return nil, err
		}
		cfg.BlobCacheSize = &n
	}
	cs, err := content.Open(root)
	if err != nil {
		return nil, storeErr(root, err)
	}
	db, err := metadata.Open(filepath.Join(root, "metadata.db"))
	if err != nil {
		return nil, storeErr(root, err)
	}
	e := &Engine{root: root, cfg: cfg, Content: cs, DB: db, Images: &images.Store{DB: db, Content: cs},
		journal: events.Open(filepath.Join(root, "events"))}
	e.rootSources = []func(ctx context.Context) (gc.Roots, error){e.ContainerRoots, e.BuildCacheRoots}
	if err := e.openSnapshotter(ctx, opts.StorageDriver); err != nil {
		return nil, err
	}
	return e, nil
}

func storeErr(root string, err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("store %s is on a read-only filesystem; give a writable --root: %w", root, err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w (the store %s is full: free space or run \"strata system prune\"; nothing was kept)", err, root)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("store %s: permission denied; run as root or give a --root you own: %w", root, err)
	}
	return err
}

// Root is the directory of the store.
func (e *Engine) Root() string { return e.root }

// Driver names the snapshotter in use.
func (e *Engine) Driver() string { return e.driver }

func (e *Engine) openSnapshotter(ctx context.Context, want string) error {
	// A process killed while probing leaves a test mount behind.
	mount.CleanOverlayChecks(e.root)
	rec := filepath.Join(e.root, "driver")
	recorded := ""
	if b, err := os.ReadFile(rec); err == nil {
		recorded = strings.TrimSpace(string(b))
	}
	if want == "" {
		want = recorded
	}
	if want == "" {
		want = "native"
		if os.Geteuid() == 0 && mount.OverlaySupported(e.root) == nil {
			want = "overlay"
		}
	}
	dir := filepath.Join(e.root, "snapshots", want)
	var sn snapshot.Snapshotter
	var err error
	switch want {
	case "overlay":
		// Probing mounts and unmounts a test overlay (and so syncs the
		// filesystem): do it once, not on every command.
		if recorded != "overlay" {
			if err := mount.OverlaySupported(e.root); err != nil {
				return fmt.Errorf("storage driver overlay cannot mount here (%v); use --storage-driver native", err)
			}
		}
		var o *overlay.Snapshotter
		if o, err = overlay.New(dir); err == nil {
			err = e.openPool(o)
		}
		sn = o
	case "native":
		sn, err = native.New(dir)
	default:
		return fmt.Errorf("storage driver %q: want overlay or native: %w", want, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return storeErr(e.root, err)
	}
	if _, err := os.Stat(rec); errors.Is(err, fs.ErrNotExist) {
		_ = os.WriteFile(rec, []byte(want+"\n"), 0o644)
	}
	e.Snap, e.driver = sn, want
	return nil
}

// openPool opens the file pool beside the overlay snapshots, finishes what
// a killed dedupe left, and has o dedupe each commit unless the store's
// config turns it off.
func (e *Engine) openPool(o *overlay.Snapshotter) error {
	p, err := filepool.Open(filepath.Join(e.root, "files"))
	if err != nil {
		return err
	}
	if _, err := p.Recover(); err != nil {
		return err
	}
	e.pool = p
	if e.cfg.DedupeOn() {
		o.Pool = p
	}
	return nil
}

// sharedInodes is archive.WriteOptions.Shared for tars of this store's
// snapshots (export, cp, squash): the pool's inodes, read when first
// asked; nil without a pool.
func (e *Engine) sharedInodes(ctx context.Context) func(ino uint64) bool {
	if e.pool == nil {
		return nil
	}
	return e.pool.Lookup(ctx)
}

// layers is the pipeline that brings layers into this store.
func (e *Engine) layers() *layer.Pipeline {
	return &layer.Pipeline{Content: e.Content, Snap: e.Snap, DB: e.DB, BlobCache: &layer.BlobCache{Budget: e.BlobCacheBudget()}}
}

// Close releases the snapshotter.
func (e *Engine) Close() error {
	if e.Snap != nil {
		return e.Snap.Close()
	}
	return nil
}

// lock takes the gc lock: shared for writers, exclusive for gc. Writers
// hold it for their whole operation so gc never sweeps content that a
// running import has committed but not yet named.
func (e *Engine) lock(ctx context.Context, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(e.root, "gc.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, storeErr(e.root, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("store busy: another strata process holds %s: %w", f.Name(), errdefs.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cleanupExtracts removes active extract snapshots whose process died.
func (e *Engine) cleanupExtracts(ctx context.Context) (int, error) {
	var dead []string
	err := e.Snap.Walk(ctx, func(ctx context.Context, info snapshot.Info) error {
		if _, ok := layer.DeadExtract(info); ok {
			dead = append(dead, info.Name)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range dead {
		if err := e.Snap.Remove(ctx, k); err == nil {
			n++
		}
	}
	return n, nil
}
