package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/events"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/transfer"
)

// The verbs that move images into and out of the store (pull, push, load,
// save, import) live in transfer; here they get the engine's stores, its
// gc lock, events and registry clients.

type (
	// PullOptions describe a `strata pull`.
	PullOptions = transfer.PullOptions
	// PushOptions describe a `strata push`.
	PushOptions = transfer.PushOptions
	// LoadOptions describe a `strata load`.
	LoadOptions = transfer.LoadOptions
)

func (e *Engine) transfer() *transfer.Store {
	return &transfer.Store{
		Content:  e.Content,
		DB:       e.DB,
		Images:   e.Images,
		Layers:   e.layers(),
		TmpDir:   filepath.Join(e.root, "tmp"),
		Lock:     func(ctx context.Context) (func(), error) { return e.lock(ctx, false) },
		Event:    func(action, id, name string) { e.imageEvent(events.Action(action), id, name) },
		StoreErr: func(err error) error { return storeErr(e.root, err) },
	}
}

// Pull fetches an image from its registry into the store, unpacks its
// layers and names it (transfer.Store.Pull). It returns the digest the
// reference resolved to (an index's when the registry has one).
func (e *Engine) Pull(ctx context.Context, ref string, opts PullOptions) (digest.Digest, error) {
	opts.Client = e.remoteClient(opts.Client)
	d, err := e.transfer().Pull(ctx, ref, opts)
	return d, e.diskHint(err)
}

// diskHint adds what to do to an error that ran out of disk space. What a
// pull received stays in its ingest, so the pull resumes once there is room.
func (e *Engine) diskHint(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w; free space in %s (\"strata system prune\") and pull again: what was received is kept", err, e.root)
	}
	return err
}

// Push uploads a local image to the registry its name points at and
// returns the descriptor of the manifest pushed (of the last tag, with
// All): transfer.Store.Push.
func (e *Engine) Push(ctx context.Context, ref string, opts PushOptions) (ocispec.Descriptor, error) {
	opts.Client = e.remoteClient(opts.Client)
	return e.transfer().Push(ctx, ref, opts)
}

// remoteClient is the caller's client, or one whose upload sessions live in
// the store so that a push cut short resumes in the next process.
func (e *Engine) remoteClient(c *remote.Client) *remote.Client {
	if c != nil {
		return c
	}
	return remote.New(remote.WithSessions(e.pushSessions()))
}

// pushSessionsDir, under the root, holds the upload sessions of pushes
// (remote.DirSessions): a push cut short continues its uploads from them.
const pushSessionsDir = "push-sessions"

// stalePushSession is how long the session of a cut push is kept for a
// later push to resume; garbage collection removes older ones, as it does
// ingests of cut pulls.
const stalePushSession = 24 * time.Hour

func (e *Engine) pushSessions() remote.DirSessions {
	return remote.DirSessions(filepath.Join(e.root, pushSessionsDir))
}

// Load reads the images of a docker save archive or an OCI layout into
// the store and names them (transfer.Store.Load).
func (e *Engine) Load(ctx context.Context, opts LoadOptions) ([]string, error) {
	return e.transfer().Load(ctx, opts)
}

// Save writes the images refs name (names or IDs) to w as one tar that is
// both a docker save archive and an OCI image layout
// (transfer.Store.Save).
func (e *Engine) Save(ctx context.Context, w io.Writer, refs []string) error {
	return e.transfer().Save(ctx, w, refs)
}

// ImportOptions describe a `strata import`.
type ImportOptions struct {
	Source      string    // a tar file (any compression), a directory, or "-"
	Stdin       io.Reader // read when Source is "-"
	Ref         string    // REPO[:TAG]; empty leaves the image untagged
	Changes     []string  // Dockerfile instructions applied to the config
	Message     string    // the history comment
	Compression string    // gzip (default), zstd, none
}

// Import makes a one-layer image from a root filesystem and returns its
// ID (transfer.Store.Import); the builder applies the changes.
func (e *Engine) Import(ctx context.Context, opts ImportOptions) (digest.Digest, error) {
	return e.transfer().Import(ctx, transfer.ImportOptions{
		Source: opts.Source, Stdin: opts.Stdin, Ref: opts.Ref, Message: opts.Message, Compression: opts.Compression,
		Changes: func(cfg *ocispec.ImageConfig) error { return build.ApplyChanges(cfg, opts.Changes) },
	})
}
