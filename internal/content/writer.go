package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/verify"
)

// WriterOptions say how to open an ingest.
type WriterOptions struct {
	// Ref names the ingest so that a later writer with the same Ref resumes
	// it (a pull uses the digest it fetches, the registry its upload id).
	// With a Ref, Close keeps the bytes written so far; without one the
	// ingest is private and Close drops it.
	Ref string
	// Algorithm hashes the data; sha256 when empty.
	Algorithm digest.Algorithm
	// Wait makes Writer wait (until ctx ends) for another writer of the same
	// Ref to finish, instead of failing with ErrUnavailable.
	Wait bool
}

// Writer is an ingest being written. It hashes as it writes. It is not safe
// for concurrent use.
type Writer struct {
	s       *Store
	dir     string
	ref     string
	keep    bool
	f       *os.File
	lock    *os.File
	h       hash.Hash
	alg     digest.Algorithm
	offset  int64
	flushed int64 // bytes before this were handed to writeback
	done    bool
	started time.Time
}

func ingestKey(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return hex.EncodeToString(sum[:16])
}

// Writer opens an ingest. With a Ref whose ingest exists, the bytes already
// there are re-hashed and writing resumes at Offset. Only one writer may hold
// an ingest at a time, across processes: another gets ErrUnavailable (or
// waits, with Wait).
func (s *Store) Writer(ctx context.Context, opts WriterOptions) (*Writer, error) {
	alg := opts.Algorithm
	if alg == "" {
		alg = digest.SHA256
	}
	if !alg.Available() {
		return nil, fmt.Errorf("digest algorithm %q: %w", alg, errdefs.ErrInvalidArgument)
	}
	keep := opts.Ref != ""
	var dir string
	if keep {
		dir = filepath.Join(s.root, "ingest", ingestKey(opts.Ref))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ingest %s: %w", opts.Ref, err)
		}
	} else {
		d, err := os.MkdirTemp(filepath.Join(s.root, "ingest"), "tmp-")
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		dir = d
	}
	w := &Writer{s: s, dir: dir, ref: opts.Ref, keep: keep, h: alg.Hash(), alg: alg, started: time.Now()}
	for {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ingest %s: %w", opts.Ref, err)
		}
		lockPath := filepath.Join(dir, "lock")
		lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("ingest %s: %w", opts.Ref, err)
		}
		if err := lockFile(ctx, lock, opts.Wait); err != nil {
			lock.Close()
			return nil, fmt.Errorf("ingest %s: %w", opts.Ref, err)
		}
		// The previous holder may have committed and removed the ingest
		// while we waited: then our lock is on a deleted file; start over.
		if same, _ := sameFile(lock, lockPath); same {
			w.lock = lock
			break
		}
		lock.Close()
	}
	if keep {
		_ = os.WriteFile(filepath.Join(dir, "ref"), []byte(opts.Ref), 0o644)
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		w.release()
		return nil, fmt.Errorf("ingest %s: %w", opts.Ref, err)
	}
	w.f = f
	// Resume: re-hash what an earlier writer left.
	n, err := io.Copy(w.h, f)
	if err != nil {
		w.release()
		return nil, fmt.Errorf("resume ingest %s: %w", opts.Ref, err)
	}
	w.offset, w.flushed = n, n
	return w, nil
}

func lockFile(ctx context.Context, f *os.File, wait bool) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		if !wait {
			return fmt.Errorf("another writer holds it: %w", errdefs.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Offset is how many bytes the ingest holds.
func (w *Writer) Offset() int64 { return w.offset }

// Digest is the digest of the bytes written so far.
func (w *Writer) Digest() digest.Digest { return digest.NewDigest(w.alg, w.h) }

// Write appends p to the ingest.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	if w.offset-w.flushed >= writebackEvery {
		// Start writing back what came so far, so that Commit's fsync of
		// a big blob has little left to wait for; errors show at fsync.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.flushed, w.offset-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.offset
	}
	return n, err
}

// writebackEvery is how many bytes Write lets pile up before it asks the
// kernel to start writing them back.
const writebackEvery = 8 << 20

// Truncate drops everything after size bytes (a resumed upload whose tail
// could not be trusted). It re-hashes the kept bytes.
func (w *Writer) Truncate(size int64) error {
	if size > w.offset || size < 0 {
		return fmt.Errorf("truncate ingest to %d of %d bytes: %w", size, w.offset, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Truncate(size); err != nil {
		return err
	}
	w.h.Reset()
	if _, err := io.Copy(w.h, io.NewSectionReader(w.f, 0, size)); err != nil {
		return err
	}
	if _, err := w.f.Seek(size, io.SeekStart); err != nil {
		return err
	}
	w.offset, w.flushed = size, min(w.flushed, size)
	return nil
}

// Commit checks the ingest against size (if not negative) and expected (if
// not empty), fsyncs it and renames it into place. If the blob is already
// there, Commit drops the ingest and returns an error wrapping
// ErrAlreadyExists, which every caller treats as success. On a mismatch the
// ingest is dropped and a *verify.MismatchError returned: nothing is kept.
func (w *Writer) Commit(ctx context.Context, size int64, expected digest.Digest) error {
	if w.done {
		return fmt.Errorf("ingest already committed: %w", errdefs.ErrFailedPrecondition)
	}
	got := w.Digest()
	if (size >= 0 && size != w.offset) || (expected != "" && expected != got) {
		w.discard()
		want := expected
		if want == "" {
			want = got
		}
		return &verify.MismatchError{Want: want, Got: got, WantSize: size, GotSize: w.offset}
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("commit %s: sync: %w", got, err)
	}
	target, err := w.s.BlobPath(got)
	if err != nil {
		return err
	}
	if _, err := os.Stat(target); err == nil {
		w.discard()
		return fmt.Errorf("blob %s: %w", got, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := w.f.Chmod(0o444); err != nil {
		return fmt.Errorf("commit %s: %w", got, err)
	}
	if err := os.Rename(filepath.Join(w.dir, "data"), target); err != nil {
		return fmt.Errorf("commit %s: %w", got, err)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("commit %s: sync dir: %w", got, err)
	}
	w.discard()
	return nil
}

// Close releases the ingest. Without a Ref, or after Commit, the ingest is
// removed; with a Ref its bytes stay for a later writer to resume.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	if !w.keep {
		w.discard()
		return nil
	}
	w.done = true
	err := w.f.Close()
	w.release()
	return err
}

// Abort drops the ingest and its bytes, even a resumable one: a cancelled
// upload, or bytes that cannot be trusted.
func (w *Writer) Abort() {
	if !w.done {
		w.discard()
	}
}

func (w *Writer) discard() {
	w.done = true
	if w.f != nil {
		w.f.Close()
	}
	os.RemoveAll(w.dir)
	w.release()
}

func (w *Writer) release() {
	if w.lock != nil {
		w.lock.Close() // drops the flock
		w.lock = nil
	}
}

func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IngestInfo describes an in-progress write.
type IngestInfo struct {
	Ref     string
	Offset  int64
	Updated time.Time
}

// Ingests lists the ingests on disk.
func (s *Store) Ingests(ctx context.Context) ([]IngestInfo, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return nil, err
	}
	var out []IngestInfo
	for _, e := range ents {
		dir := filepath.Join(s.root, "ingest", e.Name())
		ref, _ := os.ReadFile(filepath.Join(dir, "ref"))
		fi, err := os.Stat(filepath.Join(dir, "data"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				out = append(out, IngestInfo{Ref: string(ref)})
				continue
			}
			return nil, err
		}
		out = append(out, IngestInfo{Ref: string(ref), Offset: fi.Size(), Updated: fi.ModTime()})
	}
	return out, nil
}

// CleanIngests removes ingests that no writer holds: resumable ones (with a
// Ref) once untouched for longer than age, private ones at once, since only
// a dead process leaves those unlocked. It returns how many it removed.
func (s *Store) CleanIngests(ctx context.Context, age time.Duration) (int, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		dir := filepath.Join(s.root, "ingest", e.Name())
		fi, err := os.Stat(dir)
		if err != nil {
			continue
		}
		if dfi, err := os.Stat(filepath.Join(dir, "data")); err == nil && dfi.ModTime().After(fi.ModTime()) {
			fi = dfi
		}
		private := strings.HasPrefix(e.Name(), "tmp-")
		if !private && time.Since(fi.ModTime()) < age {
			continue
		}
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			if os.RemoveAll(dir) == nil {
				n++
			}
		}
		lock.Close()
	}
	return n, nil
}

// WriteBlob stores the bytes of r as one blob, verifying them against
// expected (and size, if not negative). An existing blob is success.
func (s *Store) WriteBlob(ctx context.Context, r io.Reader, size int64, expected digest.Digest) (digest.Digest, int64, error) {
	alg := digest.SHA256
	if expected != "" {
		alg = expected.Algorithm()
	}
	w, err := s.Writer(ctx, WriterOptions{Algorithm: alg})
	if err != nil {
		return "", 0, err
	}
	defer w.Close()
	if _, err := io.Copy(w, r); err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	dgst, n := w.Digest(), w.Offset()
	if err := w.Commit(ctx, size, expected); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return "", 0, err
	}
	return dgst, n, nil
}
