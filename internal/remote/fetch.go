package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

func jsonDecode(r io.Reader, v any) error {
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// FetchBlob opens the blob of desc from offset on (an HTTP Range request
// when offset > 0). It returns the body and the offset it really starts
// at: 0 when the registry ignored the Range, so the caller must start over.
// The bytes are not verified here: the caller hashes them (the content
// store's ingest does) and checks desc at the end.
func (r *Repository) FetchBlob(ctx context.Context, desc ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := r.h.do(ctx, request{method: http.MethodGet, url: r.url("blobs", desc.Digest.String()), header: hdr, scopes: r.scopes})
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("blob %s: asked for bytes from %d, got Content-Range %q: %w", desc.Digest, offset, resp.Header.Get("Content-Range"), errdefs.ErrFailedPrecondition)
		}
		return resp.Body, offset, nil
	case http.StatusRequestedRangeNotSatisfiable:
		// Holding more than the registry has: start again from zero.
		resp.Body.Close()
		return r.FetchBlob(ctx, desc, 0)
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("blob %s not found in %s: %w", desc.Digest, r.Name(), errdefs.ErrNotFound)
	}
	return nil, 0, fmt.Errorf("fetch blob %s: %w", desc.Digest, responseError(r.Domain, resp))
}

// contentRangeStart reads the start of "bytes START-END/SIZE".
func contentRangeStart(s string) (int64, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "bytes"))
	a, _, ok := strings.Cut(s, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	return n, err == nil
}
