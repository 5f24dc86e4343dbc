package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/verify"
)

// Info describes a committed blob.
type Info struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// Store is a content-addressed blob store rooted in a directory. It is safe
// for concurrent use by goroutines and by several processes.
type Store struct {
	root string
}

// Open opens (creating if needed) the store rooted at root. The root is
// made private to its owner (0700), existing stores included: see
// privateMode.
func Open(root string) (*Store, error) {
	if err := makePrivate(root); err != nil {
		return nil, fmt.Errorf("open content store: %w", err)
	}
	for _, d := range []string{"blobs/sha256", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("open content store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// BlobPath returns where the blob of dgst lives (or would live). It
// validates dgst, so the path never escapes the store.
func (s *Store) BlobPath(dgst digest.Digest) (string, error) {
	if err := dgst.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", dgst, err, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(s.root, "blobs", dgst.Algorithm().String(), dgst.Encoded()), nil
}

// Info returns the size and time of a committed blob, or ErrNotFound.
func (s *Store) Info(ctx context.Context, dgst digest.Digest) (Info, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
		}
		return Info{}, fmt.Errorf("blob %s: %w", dgst, err)
	}
	return Info{Digest: dgst, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// ReaderAt is a committed blob open for random access.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

type fileReaderAt struct {
	*os.File
	size int64
}

func (f fileReaderAt) Size() int64 { return f.size }

// ReaderAt opens the blob of desc for random access. It does not verify the
// bytes; use Reader (or verify.NewReader) for that.
func (s *Store) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (ReaderAt, error) {
	f, err := s.OpenFile(desc.Digest)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileReaderAt{File: f, size: fi.Size()}, nil
}

// OpenFile opens the blob file itself (for sendfile and http.ServeContent).
func (s *Store) OpenFile(dgst digest.Digest) (*os.File, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("blob %s: %w", dgst, err)
	}
	return f, nil
}

// Reader opens the blob of desc and verifies size and digest as it is read:
// the last Read (or Close) fails with a *verify.MismatchError if the stored
// bytes are not what desc says.
func (s *Store) Reader(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	f, err := s.OpenFile(desc.Digest)
	if err != nil {
		return nil, err
	}
	v, err := verify.NewReader(f, desc)
	if err != nil {
		f.Close()
		return nil, err
	}
	return v, nil
}

// ReadAll reads a small blob (a manifest, a config) through a size cap,
// verifying it.
func (s *Store) ReadAll(ctx context.Context, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("blob %s: %d bytes is over the %d byte limit: %w", desc.Digest, desc.Size, limit, errdefs.ErrInvalidArgument)
	}
	rc, err := s.Reader(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	return b, nil
}

// Verify re-hashes a committed blob and returns a *verify.MismatchError
// (an ErrDataCorrupt) when its bytes no longer match its name.
func (s *Store) Verify(ctx context.Context, dgst digest.Digest) error {
	rc, err := s.Reader(ctx, ocispec.Descriptor{Digest: dgst, Size: -1})
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := rc.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Delete removes a committed blob. Deleting a missing blob is ErrNotFound.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob %s: %w", dgst, errdefs.ErrNotFound)
		}
		return fmt.Errorf("delete blob %s: %w", dgst, err)
	}
	return nil
}

// Walk calls fn for every committed blob, in no promised order. Files whose
// names are not valid digests are skipped.
func (s *Store) Walk(ctx context.Context, fn func(Info) error) error {
	algs, err := os.ReadDir(filepath.Join(s.root, "blobs"))
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, a := range algs {
		alg := digest.Algorithm(a.Name())
		if !a.IsDir() || !alg.Available() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(s.root, "blobs", a.Name()))
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return err
			}
			dgst := digest.NewDigestFromEncoded(alg, e.Name())
			if dgst.Validate() != nil || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted meanwhile
				}
				return err
			}
			if err := fn(Info{Digest: dgst, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}
