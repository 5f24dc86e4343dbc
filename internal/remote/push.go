package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

// SessionStore remembers the upload URL of each blob a push started, so
// that a later push of the same blob to the same repository continues it.
// Implementations must be safe for concurrent use.
type SessionStore interface {
	Load(key string) string
	Save(key, location string)
	Delete(key string)
}

// DirSessions keeps sessions as small files in a directory.
type DirSessions string

func (d DirSessions) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(string(d), hex.EncodeToString(sum[:16]))
}

// Load returns the location saved for key, or "".
func (d DirSessions) Load(key string) string {
	b, err := os.ReadFile(d.path(key))
	if err != nil {
		return ""
	}
	k, loc, ok := strings.Cut(string(b), "\n")
	if !ok || k != key {
		return ""
	}
	return loc
}

// Save records location for key (atomically; errors are ignored: a lost
// session only costs a resend).
func (d DirSessions) Save(key, location string) {
	if os.MkdirAll(string(d), 0o700) != nil {
		return
	}
	p := d.path(key)
	tmp := p + ".tmp"
	if os.WriteFile(tmp, []byte(key+"\n"+location), 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}

// Delete forgets key.
func (d DirSessions) Delete(key string) { _ = os.Remove(d.path(key)) }

// Prune removes the sessions (and half-written session files) not saved
// for age: a push that was cut and never run again would otherwise leave
// its file for ever. A running push saves its session after every chunk,
// so only abandoned ones are that old; registries expire such uploads
// anyway (distribution after a week, Strata's after --upload-expiry).
// A missing directory holds nothing to prune.
func (d DirSessions) Prune(age time.Duration) (int, error) {
	ents, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(string(d), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}

// ForgetUploads drops the sessions saved for these blobs in this
// repository, once they are known to be there (a push that put its
// manifest): a session an earlier, cut push left for one of them would
// never be resumed. Each is first cancelled on the registry, best effort,
// so the registry can free the partial upload.
func (r *Repository) ForgetUploads(ctx context.Context, descs ...ocispec.Descriptor) {
	for _, d := range descs {
		r.forgetUpload(ctx, r.Name()+"@"+d.Digest.String())
	}
}

// forgetUploadTimeout bounds the DELETE of a stale session, so a registry
// that does not answer cannot hold up the end of a push that succeeded.
const forgetUploadTimeout = 5 * time.Second

func (r *Repository) forgetUpload(ctx context.Context, key string) {
	if r.h.c.sessions == nil {
		return
	}
	loc := r.h.c.sessions.Load(key)
	if loc == "" {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, forgetUploadTimeout)
	r.cancelUpload(cctx, loc)
	cancel()
	r.h.c.sessions.Delete(key)
}

// BlobExists asks with HEAD whether the repository has the blob.
func (r *Repository) BlobExists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	resp, err := r.h.do(ctx, request{method: http.MethodHead, url: r.url("blobs", desc.Digest.String()), scopes: r.scopes})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, responseError(r.Domain, resp)
}

// PushKind is how a blob came to be in the repository.
type PushKind int

const (
	Uploaded PushKind = iota + 1
	Existed
	Mounted
)

// PushResult says what PushBlob did.
type PushResult struct {
	Kind PushKind
	From string // the repository a Mounted blob came from
}

// PushBlobOptions tune PushBlob.
type PushBlobOptions struct {
	// MountFrom lists repositories on the same registry believed to hold
	// the blob; a cross-repository mount is tried from each in turn
	// (distribution-spec "Mounting a blob from another repository").
	MountFrom []string
	// Progress, when set, is told the bytes the registry holds as they grow.
	Progress func(done int64)
	// SkipCheck skips the HEAD request (the caller made it).
	SkipCheck bool
	// MountOnly tries the mounts and nothing else: when none works, the
	// session the registry opened is cancelled and the result's Kind is 0.
	MountOnly bool
}

// PushBlob makes the repository hold the blob of desc, whose bytes are
// src: already there (HEAD), mounted from another repository, or uploaded
// in chunks. A chunk that fails is resumed from the offset the registry
// reports; a session left by an earlier process (see WithSessions) is
// continued the same way.
func (r *Repository) PushBlob(ctx context.Context, desc ocispec.Descriptor, src io.ReaderAt, opts PushBlobOptions) (PushResult, error) {
	if !opts.SkipCheck {
		ok, err := r.BlobExists(ctx, desc)
		if err != nil {
			return PushResult{}, err
		}
		if ok {
			// Another push put it there: a session a cut push of ours
			// left for it will not be resumed.
			r.forgetUpload(ctx, r.Name()+"@"+desc.Digest.String())
			return PushResult{Kind: Existed}, nil
		}
	}
	key := r.Name() + "@" + desc.Digest.String()
	var loc string
	var offset int64
	if r.h.c.sessions != nil {
		if saved := r.h.c.sessions.Load(key); saved != "" {
			if off, l, err := r.uploadStatus(ctx, saved); err == nil && off <= desc.Size {
				loc, offset = l, off
			} else {
				r.h.c.sessions.Delete(key)
			}
		}
	}
	if loc == "" {
		for _, from := range opts.MountFrom {
			if from == r.Path || from == "" {
				continue
			}
			l, mounted, err := r.startUpload(ctx, desc, from)
			if err != nil {
				return PushResult{}, err
			}
			if mounted {
				return PushResult{Kind: Mounted, From: from}, nil
			}
			if opts.MountOnly {
				r.cancelUpload(ctx, l)
				continue
			}
			loc = l
			break
		}
	}
	if opts.MountOnly {
		return PushResult{}, nil
	}
	if loc == "" {
		l, _, err := r.startUpload(ctx, desc, "")
		if err != nil {
			return PushResult{}, err
		}
		loc = l
	}
	if r.h.c.sessions != nil {
		r.h.c.sessions.Save(key, loc)
	}
	report := func(n int64) {
		if opts.Progress != nil {
			opts.Progress(n)
		}
	}
	report(offset)
	failures := 0
	wait := r.h.c.backoff
	for offset < desc.Size {
		n := min(r.h.c.chunkSize, desc.Size-offset)
		pctx, stop := graceful(ctx, patchGrace)
		l, next, err := r.patch(pctx, loc, src, offset, n, report)
		stop()
		if err == nil {
			loc, offset, failures, wait = l, next, 0, r.h.c.backoff
			if r.h.c.sessions != nil {
				r.h.c.sessions.Save(key, loc)
			}
			report(offset)
			if ctx.Err() != nil {
				return PushResult{}, ctx.Err() // the session stays for the next push
			}
			continue
		}
		if ctx.Err() != nil {
			return PushResult{}, ctx.Err() // the session stays for the next push
		}
		failures++
		if failures >= r.h.c.attempts {
			return PushResult{}, fmt.Errorf("upload blob %s at byte %d: %w", desc.Digest, offset, err)
		}
		select {
		case <-ctx.Done():
			return PushResult{}, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
		if off, l, serr := r.uploadStatus(ctx, loc); serr == nil {
			loc, offset = l, off
			report(offset)
		}
	}
	if err := r.finishUpload(ctx, desc, loc); err != nil {
		if ok, herr := r.BlobExists(ctx, desc); herr != nil || !ok {
			if r.h.c.sessions != nil && errdefs.IsInvalidArgument(err) {
				r.h.c.sessions.Delete(key)
			}
			return PushResult{}, err
		}
	}
	if r.h.c.sessions != nil {
		r.h.c.sessions.Delete(key)
	}
	return PushResult{Kind: Uploaded}, nil
}

func (r *Repository) resolve(loc string) (string, error) {
	base, err := url.Parse(r.h.base + "/")
	if err != nil {
		return "", err
	}
	u, err := base.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("upload location %q: %v: %w", loc, err, errdefs.ErrInvalidArgument)
	}
	return u.String(), nil
}

// startUpload POSTs to the uploads endpoint, with a mount from from when
// given. It returns the session's location, or mounted.
func (r *Repository) startUpload(ctx context.Context, desc ocispec.Descriptor, from string) (string, bool, error) {
	u := "/v2/" + r.Path + "/blobs/uploads/"
	scopes := r.scopes
	if from != "" {
		u += "?" + url.Values{"mount": {desc.Digest.String()}, "from": {from}}.Encode()
		scopes = append(append([]string(nil), r.scopes...), "repository:"+from+":pull")
	}
	resp, err := r.h.do(ctx, request{method: http.MethodPost, url: u, body: func() (io.Reader, error) { return http.NoBody, nil }, size: 0, scopes: scopes})
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		if from != "" {
			return "", true, nil
		}
	case http.StatusAccepted:
		loc, err := r.resolve(resp.Header.Get("Location"))
		return loc, false, err
	}
	return "", false, fmt.Errorf("start upload of %s: %w", desc.Digest, responseError(r.Domain, resp))
}

// uploadStatus asks how many bytes a session holds (GET on its location:
// 204 with Range 0-END).
func (r *Repository) uploadStatus(ctx context.Context, loc string) (int64, string, error) {
	resp, err := r.h.do(ctx, request{method: http.MethodGet, url: loc, scopes: r.scopes})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return 0, "", responseError(r.Domain, resp)
	}
	off := rangeEnd(resp.Header.Get("Range"))
	next := loc
	if l := resp.Header.Get("Location"); l != "" {
		if next, err = r.resolve(l); err != nil {
			return 0, "", err
		}
	}
	return off, next, nil
}

// rangeEnd turns an upload's Range "0-END" into the byte count END+1.
// "0-0" is ambiguous (nothing, or one byte) and read as nothing: resending
// one byte is harmless, the registry refuses a chunk that does not start
// at its offset.
func rangeEnd(s string) int64 {
	s = strings.TrimPrefix(strings.TrimSpace(s), "bytes=")
	_, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0
	}
	end, err := strconv.ParseInt(b, 10, 64)
	if err != nil || end <= 0 {
		return 0
	}
	return end + 1
}

// countingReader reports the offset as bytes are read.
type countingReader struct {
	r      io.Reader
	off    int64
	report func(int64)
	last   time.Time
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.off += int64(n)
	if now := time.Now(); now.Sub(c.last) > 50*time.Millisecond {
		c.last = now
		c.report(c.off)
	}
	return n, err
}

// patch sends bytes [offset, offset+n) of src as one chunk. It returns the
// next location and the offset the registry now holds.
func (r *Repository) patch(ctx context.Context, loc string, src io.ReaderAt, offset, n int64, report func(int64)) (string, int64, error) {
	resp, err := r.h.do(ctx, request{
		method: http.MethodPatch, url: loc,
		header: http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", offset, offset+n-1)},
		},
		body: func() (io.Reader, error) {
			return &countingReader{r: io.NewSectionReader(src, offset, n), off: offset, report: report}, nil
		},
		size: n, scopes: r.scopes, noRetry: true,
	})
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
		return "", 0, responseError(r.Domain, resp)
	}
	next := loc
	if l := resp.Header.Get("Location"); l != "" {
		if next, err = r.resolve(l); err != nil {
			return "", 0, err
		}
	}
	got := offset + n
	if h := resp.Header.Get("Range"); h != "" {
		if e := rangeEnd(h); e != got {
			return next, e, nil
		}
	}
	return next, got, nil
}

// finishUpload PUTs ?digest= to close the session.
func (r *Repository) finishUpload(ctx context.Context, desc ocispec.Descriptor, loc string) error {
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("upload location %q: %v: %w", loc, err, errdefs.ErrInvalidArgument)
	}
	q := u.Query()
	q.Set("digest", desc.Digest.String())
	u.RawQuery = q.Encode()
	resp, err := r.h.do(ctx, request{method: http.MethodPut, url: u.String(), body: func() (io.Reader, error) { return http.NoBody, nil }, size: 0, scopes: r.scopes})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("finish upload of %s: %w", desc.Digest, responseError(r.Domain, resp))
	}
	return nil
}

// cancelUpload DELETEs a session nobody will use (best effort).
func (r *Repository) cancelUpload(ctx context.Context, loc string) {
	if loc == "" {
		return
	}
	resp, err := r.h.do(ctx, request{method: http.MethodDelete, url: loc, scopes: r.scopes})
	if err == nil {
		resp.Body.Close()
	}
}

// patchGrace is how long a chunk already on its way may still take when
// the push is cancelled (Ctrl-C). Registries such as distribution keep the
// part of a chunk that arrived but then refuse to resume a session whose
// size no longer matches their signed state, so cutting a chunk short
// loses the whole upload; letting it finish keeps the session resumable.
const patchGrace = 5 * time.Second

// graceful returns a context that ends grace after ctx does (or when stop
// is called).
func graceful(ctx context.Context, grace time.Duration) (context.Context, func()) {
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return g, func() {
		stopAfter()
		cancel()
	}
}
