// Package verify checks size and digest of content while it streams.
//
// Everything Strata reads from someone else (a registry, an archive, a blob
// on disk) goes through a verifying reader: it reads at most Size+1 bytes,
// and reports a *MismatchError at EOF when the size or the digest differ, so a
// consumer that reached EOF without error knows the bytes are right. Tar
// readers stop before the end of a stream; Close drains the rest and verifies,
// so callers must check the error of Close.
package verify

import (
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"

	_ "crypto/sha256" // register digest algorithms
	_ "crypto/sha512"
)

// MismatchError says what was expected of a stream and what came.
type MismatchError struct {
	Want, Got         digest.Digest
	WantSize, GotSize int64
}

func (e *MismatchError) Error() string {
	if e.WantSize >= 0 && e.WantSize != e.GotSize {
		return fmt.Sprintf("%s: size mismatch (got %d bytes, want %d)", e.Want, e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("%s: digest mismatch (got %s)", e.Want, e.Got)
}

// Unwrap makes every mismatch an errdefs.ErrDataCorrupt.
func (e *MismatchError) Unwrap() error { return errdefs.ErrDataCorrupt }

// Reader verifies what passes through it against a descriptor.
type Reader struct {
	rc     io.ReadCloser
	r      io.Reader
	h      hash.Hash
	want   digest.Digest
	size   int64 // -1: unknown
	n      int64
	err    error // sticky result once EOF is seen
	closed bool
}

// NewReader wraps rc so that reading it to EOF verifies desc.Size (if it is
// not negative) and desc.Digest. An unsupported digest algorithm is an
// ErrInvalidArgument.
func NewReader(rc io.ReadCloser, desc ocispec.Descriptor) (*Reader, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	v := &Reader{rc: rc, h: desc.Digest.Algorithm().Hash(), want: desc.Digest, size: desc.Size}
	if desc.Size >= 0 {
		v.r = io.LimitReader(rc, desc.Size+1)
	} else {
		v.r = rc
	}
	return v, nil
}

func (v *Reader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = &MismatchError{Want: v.want, WantSize: v.size, GotSize: v.n}
		return n, v.err
	}
	if err == io.EOF {
		v.err = v.check()
		if v.err == nil {
			v.err = io.EOF
		}
		return n, v.err
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *Reader) check() error {
	got := digest.NewDigest(v.want.Algorithm(), v.h)
	if (v.size >= 0 && v.n != v.size) || got != v.want {
		return &MismatchError{Want: v.want, Got: got, WantSize: v.size, GotSize: v.n}
	}
	return nil
}

// Verified reports whether the whole stream was read and matched.
func (v *Reader) Verified() bool { return errors.Is(v.err, io.EOF) }

// Close drains what is left, closes the underlying reader and returns the
// verification result.
func (v *Reader) Close() error {
	if v.closed {
		return v.result()
	}
	v.closed = true
	if v.err == nil {
		_, _ = io.Copy(io.Discard, v)
	}
	cerr := v.rc.Close()
	if err := v.result(); err != nil {
		return err
	}
	return cerr
}

func (v *Reader) result() error {
	if errors.Is(v.err, io.EOF) {
		return nil
	}
	return v.err
}
