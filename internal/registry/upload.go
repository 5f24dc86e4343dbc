package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// An upload session (distribution-spec "Pushing blobs"): its bytes live in
// a content-store ingest keyed by the upload id, so a client that lost its
// connection resumes from the offset GET reports, and a restarted server
// finds the session again through its index record.
//
// With a shared store (S3) the session's state lives in its metadata
// record instead: every request loads it, resumes the writer from it and
// stores the new state with a compare-and-swap on the offset, so chunks
// may alternate between replicas.
type upload struct {
	id, repo string
	sem      chan struct{} // held by the one request working on the upload

	// guarded by sem
	alg      digest.Algorithm
	w        backend.Writer // nil while idle-closed
	lastUsed time.Time
	gone     bool // finished or cancelled

	rec backend.UploadRecord // shared sessions: the record as loaded
}

func uploadRef(id string) string { return "registry-upload/" + id }

func (u *upload) closeWriter() {
	if u.w != nil {
		u.w.Close() // keeps the bytes: the ingest has a Ref
		u.w = nil
	}
}

// abort drops the ingest's bytes.
func (u *upload) abort(ctx context.Context) {
	if u.w != nil {
		_ = u.w.Abort(ctx)
		u.w = nil
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// bodyIdle is how long a request body may stall before the upload gives
// up on it (and keeps what arrived): a client cut off by the network must
// not hold its upload's lock until TCP notices.
const bodyIdle = 2 * time.Minute

// receive copies a request body into an ingest. A failure to read is the
// client's (400; the bytes that arrived stay for a resume); a failure to
// write is ours (5xx, 507 for a full disk).
func receive(w http.ResponseWriter, dst io.Writer, body io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	br := &bodyReader{r: body, rc: http.NewResponseController(w)}
	n, err := io.CopyBuffer(struct{ io.Writer }{dst}, br, *bp)
	if err == nil {
		return n, nil
	}
	if br.err != nil && errors.Is(err, br.err) {
		return n, fmt.Errorf("receive body after %d bytes: %v: %w", n, err, errBlobUploadInvalid)
	}
	return n, fmt.Errorf("store upload after %d bytes: %w", n, err)
}

type bodyReader struct {
	r   io.Reader
	rc  *http.ResponseController
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(bodyIdle)) // unsupported on some writers: then no idle limit
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func setUploadHeaders(w http.ResponseWriter, rt route, id string, offset int64) {
	h := w.Header()
	h.Set("Location", route{Kind: routeUpload, Name: rt.Name, ID: id}.Path())
	end := offset - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", fmt.Sprintf("0-%d", end))
	h.Set("Docker-Upload-UUID", id)
	h.Set("Content-Length", "0")
}

func writeBlobCreated(w http.ResponseWriter, name string, dgst digest.Digest) {
	h := w.Header()
	h.Set("Location", route{Kind: routeBlob, Name: name, Digest: dgst}.Path())
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload answers POST /v2/<name>/blobs/uploads/: a mount (201), a
// single-request upload with ?digest= (201), or a new session (202).
func (g *Registry) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		if dgst, err := parseDigest(m); err == nil {
			ok, err := g.mount(r.Context(), rt.Name, q.Get("from"), dgst)
			if err != nil {
				return err
			}
			if ok {
				writeBlobCreated(w, rt.Name, dgst)
				return nil
			}
		}
		// Not mountable: the spec says to fall back to an upload session.
	} else if d := q.Get("digest"); d != "" {
		return g.monolithicUpload(w, r, rt, d)
	}
	id := newUploadID()
	ctx := r.Context()
	cw, err := g.blobs.Writer(ctx, id, digest.SHA256, nil)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	state, err := cw.State(ctx)
	if err != nil {
		cw.Close()
		return fmt.Errorf("start upload: %w", err)
	}
	now := time.Now()
	rec := uploadRecord{Repo: rt.Name, Algorithm: digest.SHA256, Started: now, State: state}
	if state != nil {
		rec.Updated = now
	}
	if err := g.meta.PutUpload(ctx, id, rec); err != nil {
		cw.Close()
		return fmt.Errorf("start upload: %w", err)
	}
	if g.shared {
		cw.Close()
	} else {
		u := &upload{id: id, repo: rt.Name, sem: make(chan struct{}, 1), alg: digest.SHA256, w: cw, lastUsed: now}
		g.mu.Lock()
		g.uploads[id] = u
		g.mu.Unlock()
	}
	setUploadHeaders(w, rt, id, 0)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mount links dgst into repo when from links it, or, with no from (an
// anonymous mount, spec 1.1), when the registry holds it at all.
func (g *Registry) mount(ctx context.Context, repo, from string, dgst digest.Digest) (bool, error) {
	if from != "" && !validName(from) {
		return false, nil
	}
	release, err := g.meta.Lock(ctx, false)
	if err != nil {
		return false, fmt.Errorf("mount %s: %w", dgst, err)
	}
	defer release()
	if _, err := g.blobs.Stat(ctx, dgst); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("mount %s: %w", dgst, err)
	}
	return g.meta.MountBlob(ctx, repo, from, dgst)
}

func (g *Registry) monolithicUpload(w http.ResponseWriter, r *http.Request, rt route, d string) error {
	dgst, err := parseDigest(d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	br := &bodyReader{r: r.Body, rc: http.NewResponseController(w)}
	cr := &countReader{r: br}
	release, err := g.meta.Lock(ctx, false)
	if err != nil {
		return fmt.Errorf("upload %s: %w", dgst, err)
	}
	defer release()
	// The blob store stages the bytes, verifies them and only then makes
	// them visible; a body cut short or a mismatch keeps nothing.
	err = g.blobs.Put(ctx, dgst, r.ContentLength, cr)
	switch {
	case br.err != nil:
		return fmt.Errorf("receive body after %d bytes: %v: %w", cr.n, br.err, errBlobUploadInvalid)
	case r.ContentLength >= 0 && cr.n != r.ContentLength && (err == nil || errors.Is(err, errdefs.ErrDataCorrupt)):
		return fmt.Errorf("receive %s: got %d bytes, Content-Length says %d: %w", dgst, cr.n, r.ContentLength, errSizeInvalid)
	case errors.Is(err, errdefs.ErrDataCorrupt):
		return fmt.Errorf("%w: %v", errDigestInvalid, err)
	case err != nil && !errors.Is(err, errdefs.ErrAlreadyExists):
		return fmt.Errorf("upload %s: %w", dgst, err)
	}
	if err := g.meta.LinkBlob(ctx, rt.Name, dgst); err != nil {
		return fmt.Errorf("upload %s: %w", dgst, err)
	}
	writeBlobCreated(w, rt.Name, dgst)
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// commitAndLink commits an ingest under dgst and links it into repo (and
// forgets the upload id, if any) in one index transaction. A digest
// mismatch is DIGEST_INVALID and keeps nothing.
func (g *Registry) commitAndLink(ctx context.Context, repo string, cw backend.Writer, dgst digest.Digest, uploadID string) error {
	release, err := g.meta.Lock(ctx, false)
	if err != nil {
		return fmt.Errorf("commit %s: %w", dgst, err)
	}
	defer release()
	if err := cw.Commit(ctx, dgst); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		if errors.Is(err, errdefs.ErrDataCorrupt) {
			return fmt.Errorf("%w: %v", errDigestInvalid, err)
		}
		return fmt.Errorf("commit %s: %w", dgst, err)
	}
	return g.meta.FinishUpload(ctx, uploadID, repo, dgst)
}

// acquireUpload finds the session (in memory, or in the index after a
// restart), waits for any other request on it to finish, and opens its
// ingest. The caller must release it.
func (g *Registry) acquireUpload(ctx context.Context, rt route) (*upload, error) {
	unknown := fmt.Errorf("upload %s: %w", rt.ID, errBlobUploadUnknown)
	if g.shared {
		return g.acquireShared(ctx, rt)
	}
	g.mu.Lock()
	u := g.uploads[rt.ID]
	g.mu.Unlock()
	if u == nil {
		rec, err := g.meta.Upload(ctx, rt.ID)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, unknown
		}
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", rt.ID, err)
		}
		g.mu.Lock()
		if u = g.uploads[rt.ID]; u == nil {
			u = &upload{id: rt.ID, repo: rec.Repo, sem: make(chan struct{}, 1), alg: rec.Algorithm, lastUsed: time.Now()}
			g.uploads[rt.ID] = u
		}
		g.mu.Unlock()
	}
	if u.repo != rt.Name {
		return nil, unknown
	}
	select {
	case u.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if u.gone {
		<-u.sem
		return nil, unknown
	}
	if u.w == nil {
		cw, err := g.blobs.Writer(ctx, u.id, u.alg, nil)
		if err != nil {
			<-u.sem
			return nil, fmt.Errorf("resume upload %s: %w", u.id, err)
		}
		u.w = cw
	}
	u.lastUsed = time.Now()
	return u, nil
}

// acquireShared loads a shared session from its record and resumes its
// writer from the state there. Nothing is cached in this process: the
// next request may go to another replica.
func (g *Registry) acquireShared(ctx context.Context, rt route) (*upload, error) {
	unknown := fmt.Errorf("upload %s: %w", rt.ID, errBlobUploadUnknown)
	rec, err := g.meta.Upload(ctx, rt.ID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, unknown
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", rt.ID, err)
	}
	if rec.Repo != rt.Name {
		return nil, unknown
	}
	cw, err := g.blobs.Writer(ctx, rt.ID, rec.Algorithm, rec.State)
	if err != nil {
		return nil, fmt.Errorf("resume upload %s: %w", rt.ID, err)
	}
	u := &upload{id: rt.ID, repo: rec.Repo, sem: make(chan struct{}, 1), alg: rec.Algorithm, w: cw, lastUsed: time.Now(), rec: rec}
	u.sem <- struct{}{}
	return u, nil
}

// saveUpload stores a shared session's new state, if its offset is still
// the one it was loaded at (another request on another replica may have
// moved it: then this one's bytes are not part of the session).
func (g *Registry) saveUpload(ctx context.Context, u *upload) error {
	if !g.shared || u.w == nil {
		return nil
	}
	state, err := u.w.State(ctx)
	if err != nil {
		return fmt.Errorf("upload %s: save: %w", u.id, err)
	}
	rec := u.rec
	rec.Offset, rec.State, rec.Updated, rec.Algorithm = u.w.Offset(), state, time.Now(), u.alg
	if err := g.meta.UpdateUpload(ctx, u.id, u.rec.Offset, rec); err != nil {
		if errors.Is(err, errdefs.ErrConflict) {
			return fmt.Errorf("upload %s: %v: %w", u.id, err, errRangeInvalid)
		}
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("upload %s: %w", u.id, errBlobUploadUnknown)
		}
		return fmt.Errorf("upload %s: save: %w", u.id, err)
	}
	u.rec = rec
	return nil
}

func (g *Registry) releaseUpload(u *upload) {
	u.lastUsed = time.Now()
	if g.shared {
		u.closeWriter()
	}
	<-u.sem
}

// forgetUpload ends a session; the caller holds it.
func (g *Registry) forgetUpload(ctx context.Context, u *upload) error {
	u.gone = true
	g.mu.Lock()
	delete(g.uploads, u.id)
	g.mu.Unlock()
	return g.meta.DeleteUpload(ctx, u.id)
}

// parseContentRange reads the "start-end" of a chunk (the spec's form; the
// "bytes start-end/*" and "bytes=start-end" spellings some clients send are
// accepted too).
func parseContentRange(s string) (start, end int64, err error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "bytes")
	s = strings.TrimLeft(s, " =")
	s, _, _ = strings.Cut(s, "/")
	a, b, ok := strings.Cut(s, "-")
	if ok {
		start, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			end, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("Content-Range %.80q: %w", s, errRangeInvalid)
	}
	return start, end, nil
}

// appendBody writes the request body at the end of the upload. A chunk
// whose Content-Range does not start at the current offset is refused with
// 416 before a byte of it is read. A body cut short keeps what arrived: the
// client asks for the offset and resends the rest.
func (g *Registry) appendBody(w http.ResponseWriter, r *http.Request, rt route, u *upload) error {
	var body io.Reader = r.Body
	want := r.ContentLength
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, err := parseContentRange(cr)
		if err == nil && start != u.w.Offset() {
			err = fmt.Errorf("chunk at %d, upload is at %d: %w", start, u.w.Offset(), errRangeInvalid)
		}
		if err != nil {
			setUploadHeaders(w, rt, u.id, u.w.Offset())
			return err
		}
		n := end - start + 1
		if want >= 0 && want != n {
			return fmt.Errorf("Content-Range says %d bytes, Content-Length %d: %w", n, want, errSizeInvalid)
		}
		want = n
		body = io.LimitReader(r.Body, n)
	}
	n, err := receive(w, u.w, body)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.id, err)
	}
	if want >= 0 && n != want {
		return fmt.Errorf("upload %s: got %d of %d bytes: %w", u.id, n, want, errSizeInvalid)
	}
	return nil
}

func (g *Registry) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := g.acquireUpload(r.Context(), rt)
	if err != nil {
		return err
	}
	defer g.releaseUpload(u)
	err = g.appendBody(w, r, rt, u)
	// What arrived is kept even when the body was cut short.
	if serr := g.saveUpload(r.Context(), u); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt, u.id, u.w.Offset())
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (g *Registry) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	d := r.URL.Query().Get("digest")
	if d == "" {
		return fmt.Errorf("upload %s: PUT without ?digest=: %w", rt.ID, errDigestInvalid)
	}
	dgst, err := parseDigest(d)
	if err != nil {
		return err
	}
	u, err := g.acquireUpload(r.Context(), rt)
	if err != nil {
		return err
	}
	defer g.releaseUpload(u)
	if r.ContentLength != 0 || r.Header.Get("Content-Range") != "" {
		if err := g.appendBody(w, r, rt, u); err != nil {
			_ = g.saveUpload(r.Context(), u) // keep what arrived
			return err
		}
	}
	if dgst.Algorithm() != u.alg {
		// The ingest was hashed with another algorithm: reopening it
		// with this one re-hashes the bytes already there.
		state, err := u.w.State(r.Context())
		if err != nil {
			return fmt.Errorf("upload %s: %w", u.id, err)
		}
		u.closeWriter()
		u.alg = dgst.Algorithm()
		cw, err := g.blobs.Writer(r.Context(), u.id, u.alg, state)
		if err != nil {
			return fmt.Errorf("upload %s: %w", u.id, err)
		}
		u.w = cw
	}
	cw := u.w
	u.w = nil // Commit ends the writer whatever it returns
	err = g.commitAndLink(r.Context(), rt.Name, cw, dgst, u.id)
	if err != nil {
		if errors.Is(err, errDigestInvalid) {
			_ = g.forgetUpload(r.Context(), u) // the ingest is gone: nothing was kept
		} else {
			cw.Close()
			// A shared session keeps its last saved state; the bytes of
			// this request's body, if any, are not part of it.
		}
		return err
	}
	u.gone = true
	g.mu.Lock()
	delete(g.uploads, u.id)
	g.mu.Unlock()
	writeBlobCreated(w, rt.Name, dgst)
	return nil
}

func (g *Registry) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := g.acquireUpload(r.Context(), rt)
	if err != nil {
		return err
	}
	defer g.releaseUpload(u)
	setUploadHeaders(w, rt, u.id, u.w.Offset())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Registry) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := g.acquireUpload(r.Context(), rt)
	if err != nil {
		return err
	}
	defer g.releaseUpload(u)
	u.abort(r.Context())
	if err := g.forgetUpload(r.Context(), u); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
