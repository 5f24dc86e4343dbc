package layer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/filepool"
)

// Snapshotter is what unpacking needs of a snapshotter.
type Snapshotter interface {
	Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]mount.Mount, error)
	Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error
	Remove(ctx context.Context, key string) error
	Stat(ctx context.Context, key string) (snapshot.Info, error)
}

// ExtractPrefix starts the keys of snapshots being unpacked; the pid that
// follows lets a later process clean up after one that died.
const ExtractPrefix = "extract-"

// ExtractKey makes a unique active-snapshot key owned by this process.
func ExtractKey() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return ExtractPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// ExtractOwner returns the pid in a key made by ExtractKey.
func ExtractOwner(key string) (int, bool) {
	if !strings.HasPrefix(key, ExtractPrefix) {
		return 0, false
	}
	rest := strings.TrimPrefix(key, ExtractPrefix)
	i := strings.IndexByte(rest, '-')
	if i < 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(rest[:i])
	return pid, err == nil
}

// Unpacked is what Unpack learned of a layer.
type Unpacked struct {
	DiffID  digest.Digest
	ChainID digest.Digest
	Size    int64 // uncompressed tar bytes
}

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// Index receives the tar-split index (see archive.ApplyOptions).
	Index io.Writer
	// Expect, if set, is the diffID the stream must have; a mismatch
	// discards the snapshot.
	Expect digest.Digest
}

// Unpack reads the uncompressed tar r to its end, applies it onto a new
// snapshot on top of parent (a chain ID, "" for a base layer), and commits
// the snapshot under the resulting chain ID. If that chain ID already
// exists (another process unpacked it meanwhile) the new copy is dropped
// and the existing one is used.
func Unpack(ctx context.Context, sn Snapshotter, parent digest.Digest, r io.Reader, opts UnpackOptions) (Unpacked, error) {
	key := ExtractKey()
	mounts, err := sn.Prepare(ctx, key, parent.String(), snapshot.WithLabels(map[string]string{"strata.extract": "1"}))
	if err != nil {
		return Unpacked{}, fmt.Errorf("prepare snapshot on %s: %w", orBase(parent), err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	h := sha256.New()
	tee := io.TeeReader(r, h)
	var n int64
	err = WithMounted(ctx, mounts, func(root string) error {
		var err error
		aopts := archive.ApplyOptions{Index: opts.Index, NoSameOwner: os.Geteuid() != 0}
		done, err := noteFiles(ctx, sn, key, root, &aopts)
		if err != nil {
			return err
		}
		n, err = archive.Apply(ctx, root, tee, aopts)
		done()
		if err != nil {
			return err
		}
		// The tar reader stops at the end-of-archive marker; hash the rest.
		m, err := io.Copy(io.Discard, tee)
		n += m
		return err
	})
	if err != nil {
		return Unpacked{}, err
	}
	diffID := digest.NewDigest(digest.SHA256, h)
	if opts.Expect != "" && opts.Expect != diffID {
		return Unpacked{}, fmt.Errorf("layer diffID mismatch (got %s, want %s): %w", diffID, opts.Expect, errdefs.ErrDataCorrupt)
	}
	chainID := ChainID(parent, diffID)
	if committed, err = commitChain(ctx, sn, key, chainID); err != nil {
		return Unpacked{}, err
	}
	return Unpacked{DiffID: diffID, ChainID: chainID, Size: n}, nil
}

// fileHasher is a snapshotter that takes the digests of a snapshot's
// files as they are written, so that its commit need not read them again,
// and pools them as they are written when the writer writes the
// snapshot's own directory (overlay, which pools the files of the
// snapshots it commits).
type fileHasher interface {
	FileHashes(key string) *filepool.Hashes
	PoolAsWritten(ctx context.Context, key, dir string) (*filepool.Live, error)
}

// noteFiles sets opts.FileDigest (and BeforeLink) for Apply writing root,
// the active snapshot key of sn mounted or its own directory, if sn takes
// the digests. Call the func it returns once Apply has returned.
func noteFiles(ctx context.Context, sn Snapshotter, key, root string, opts *archive.ApplyOptions) (func(), error) {
	fh, ok := sn.(fileHasher)
	if !ok {
		return func() {}, nil
	}
	live, err := fh.PoolAsWritten(ctx, key, root)
	if err != nil {
		return nil, err
	}
	opts.FileHash = filepool.ContentHash
	if live != nil {
		opts.FileDigest, opts.BeforeLink, opts.Reuse = live.Note, live.Unshare, live.Reuse
		return func() { _ = live.Close() }, nil
	}
	if h := fh.FileHashes(key); h != nil {
		opts.FileDigest = h.Note
	}
	return func() {}, nil
}

func orBase(parent digest.Digest) string {
	if parent == "" {
		return "an empty base"
	}
	return parent.String()
}

// WithMounted runs fn with the mounts mounted on a temporary directory, or
// directly on the source when they are one plain bind mount.
func WithMounted(ctx context.Context, mounts []mount.Mount, fn func(root string) error) error {
	if len(mounts) == 1 && mounts[0].Type == "bind" && !hasOpt(mounts[0].Options, "ro") {
		return fn(mounts[0].Source)
	}
	dir, err := os.MkdirTemp("", "strata-mount-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	ferr := fn(dir)
	if err := mount.UnmountAll(dir, 0); err != nil && ferr == nil {
		ferr = fmt.Errorf("unmount %s: %w", dir, err)
	}
	return ferr
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// Created is a layer written into the content store.
type Created struct {
	Desc   ocispec.Descriptor // the compressed blob
	DiffID digest.Digest
	Size   int64 // uncompressed
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// Create writes a layer in one pass: write produces the uncompressed tar,
// which is hashed (diffID) and compressed into a content ingest at once.
func Create(ctx context.Context, store *content.Store, comp archive.Compression, write func(w io.Writer) error) (Created, error) {
	cw, err := store.Writer(ctx, content.WriterOptions{})
	if err != nil {
		return Created{}, err
	}
	defer cw.Close()
	zw, err := archive.Compress(cw, comp, 0)
	if err != nil {
		return Created{}, err
	}
	h := sha256.New()
	var cnt countWriter
	if err := write(io.MultiWriter(h, &cnt, zw)); err != nil {
		zw.Close()
		return Created{}, err
	}
	if err := zw.Close(); err != nil {
		return Created{}, fmt.Errorf("compress layer: %w", err)
	}
	dgst, size := cw.Digest(), cw.Offset()
	if err := cw.Commit(ctx, size, dgst); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return Created{}, err
	}
	return Created{
		Desc:   ocispec.Descriptor{MediaType: MediaType(comp), Digest: dgst, Size: size},
		DiffID: digest.NewDigest(digest.SHA256, h),
		Size:   cnt.n,
	}, nil
}

// MediaType is the OCI layer media type of a tar compressed with c.
func MediaType(c archive.Compression) string {
	switch c {
	case archive.Gzip:
		return manifest.LayerMediaType("gzip")
	case archive.Zstd:
		return manifest.LayerMediaType("zstd")
	}
	return manifest.LayerMediaType("")
}

// ParseCompression reads a --compression flag value.
func ParseCompression(s string) (archive.Compression, error) {
	switch s {
	case "", "gzip":
		return archive.Gzip, nil
	case "zstd":
		return archive.Zstd, nil
	case "none", "uncompressed":
		return archive.Uncompressed, nil
	}
	return 0, fmt.Errorf("compression %q: want gzip, zstd or none: %w", s, errdefs.ErrInvalidArgument)
}

// CompressionOf maps a layer media type to the archive compression.
func CompressionOf(mediaType string) (archive.Compression, error) {
	c, ok := manifest.Compression(mediaType)
	if !ok {
		return 0, fmt.Errorf("media type %q is not a layer: %w", mediaType, errdefs.ErrInvalidArgument)
	}
	return ParseCompression(map[string]string{"": "none", "gzip": "gzip", "zstd": "zstd"}[c])
}

// ApplyTar brings a new layer, the uncompressed tar tarStream, into
// the store on parent through the layer pipeline: unpacked into a snapshot
// while it is compressed into the content store and its tar-split index
// kept, in one pass.
func (p *Pipeline) ApplyTar(ctx context.Context, parent digest.Digest, tarStream io.Reader, comp archive.Compression) (Result, error) {
	src := Source{
		Open: func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
			return io.NopCloser(tarStream), 0, 0, nil
		},
	}
	res, err := p.Apply(ctx, []Source{src}, Options{Parent: parent, Compress: true, Compression: comp})
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}
