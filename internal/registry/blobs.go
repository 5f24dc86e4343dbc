package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// getBlob serves GET and HEAD of a blob linked in the repository, straight
// from the store's file: http.ServeContent answers Range (206, and 416 with
// "Content-Range: bytes */size") through sendfile(2), HEAD reads nothing,
// and a whole-blob GET is copied through a large buffer (see copyBlob).
func (g *Registry) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	linked, err := g.meta.BlobLinked(ctx, rt.Name, rt.Digest)
	if err != nil {
		return fmt.Errorf("%s@%s: %w", rt.Name, rt.Digest, err)
	}
	if !linked {
		return fmt.Errorf("%s@%s: %w", rt.Name, rt.Digest, errBlobUnknown)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", rt.Digest.String())
	h.Set("ETag", `"`+rt.Digest.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	h.Set("Accept-Ranges", "bytes")
	if r.Method == http.MethodHead && r.Header.Get("Range") == "" {
		// A plain HEAD needs only the size: one stat, no open.
		info, err := g.blobs.Stat(ctx, rt.Digest)
		if err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				return fmt.Errorf("%s@%s: %w", rt.Name, rt.Digest, errBlobUnknown)
			}
			return err
		}
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if rd, ok := g.blobs.(backend.Redirector); ok && r.Method == http.MethodGet {
		// Presigned GETs (storage.s3.redirect): the client fetches the
		// bytes, ranges included, from the object store.
		u, err := rd.RedirectURL(ctx, rt.Digest)
		if err != nil {
			return err
		}
		if u != "" {
			h.Set("Location", u)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return nil
		}
	}
	f, err := g.blobs.Open(ctx, rt.Digest)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("%s@%s: %w", rt.Name, rt.Digest, errBlobUnknown)
		}
		return err
	}
	defer f.Close()
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
		return copyBlob(w, f)
	}
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// blobBufs are the buffers whole-blob GETs copy through.
var blobBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyBlob sends a whole blob through a 1 MiB buffer. Measured here on
// loopback with 16 clients (wrk, 100 MiB blob), sendfile(2) gave 1.4-1.6
// GB/s and this copy 2.8-3.2 GB/s, so whole blobs take the copy; Range
// requests keep http.ServeContent.
func copyBlob(w http.ResponseWriter, f backend.Blob) error {
	w.Header().Set("Content-Length", strconv.FormatInt(f.Size(), 10))
	w.WriteHeader(http.StatusOK)
	bp := blobBufs.Get().(*[]byte)
	defer blobBufs.Put(bp)
	// Only Write: io.CopyBuffer would otherwise hand the copy to the
	// connection's ReadFrom (sendfile) and ignore the buffer.
	_, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{f}, *bp)
	if err != nil {
		// The status is sent: all that is left is to cut the connection,
		// which the client sees as a short body.
		panic(http.ErrAbortHandler)
	}
	return nil
}

// deleteBlob unlinks a blob from the repository; GC removes the bytes once
// no repository links them.
func (g *Registry) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	err := g.meta.UnlinkBlob(r.Context(), rt.Name, rt.Digest)
	if errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("%s@%s: %w", rt.Name, rt.Digest, errBlobUnknown)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
