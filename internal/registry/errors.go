package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"syscall"

	"github.com/strata-project/strata/internal/errdefs"
)

// The kinds of failure a handler can return. Each maps to one (HTTP status,
// distribution-spec error code) pair in errorTable; handlers wrap them with
// what they were doing and never write error responses themselves.
var (
	errBlobUnknown         = errors.New("blob unknown to registry")
	errBlobUploadInvalid   = errors.New("blob upload invalid")
	errBlobUploadUnknown   = errors.New("blob upload unknown to registry")
	errRangeInvalid        = errors.New("requested range not satisfiable")
	errDigestInvalid       = errors.New("provided digest did not match uploaded content")
	errManifestBlobUnknown = errors.New("manifest references a manifest or blob unknown to registry")
	errManifestInvalid     = errors.New("manifest invalid")
	errManifestTooLarge    = errors.New("manifest too large")
	errManifestUnknown     = errors.New("manifest unknown to registry")
	errNameInvalid         = errors.New("invalid repository name")
	errNameUnknown         = errors.New("repository name not known to registry")
	errSizeInvalid         = errors.New("provided length did not match content length")
	errUnauthorized        = errors.New("authentication required")
	errDenied              = errors.New("requested access to the resource is denied")
	errUnsupported         = errors.New("the operation is unsupported")
	errReadOnly            = errors.New("the registry is read-only")
	errNotFound            = errors.New("no such endpoint")
	errTooManyRequests     = errors.New("too many requests")
)

// errorEntry is one row of errorTable.
type errorEntry struct {
	kind   error
	status int
	code   string
}

// errorTable maps error kinds to the status and code of the response, in
// order: the first kind errors.Is matches wins. Codes are the spec's
// (distribution-spec spec.md#error-codes) plus UNKNOWN for failures of our
// own (5xx). See TestErrorTableCodes.
var errorTable = []errorEntry{
	{errBlobUnknown, http.StatusNotFound, "BLOB_UNKNOWN"},
	{errBlobUploadInvalid, http.StatusBadRequest, "BLOB_UPLOAD_INVALID"},
	{errRangeInvalid, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID"},
	{errBlobUploadUnknown, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"},
	{errDigestInvalid, http.StatusBadRequest, "DIGEST_INVALID"},
	{errManifestBlobUnknown, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
	{errManifestTooLarge, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID"},
	{errManifestInvalid, http.StatusBadRequest, "MANIFEST_INVALID"},
	{errManifestUnknown, http.StatusNotFound, "MANIFEST_UNKNOWN"},
	{errNameInvalid, http.StatusBadRequest, "NAME_INVALID"},
	{errNameUnknown, http.StatusNotFound, "NAME_UNKNOWN"},
	{errSizeInvalid, http.StatusBadRequest, "SIZE_INVALID"},
	{errUnauthorized, http.StatusUnauthorized, "UNAUTHORIZED"},
	{errDenied, http.StatusForbidden, "DENIED"},
	{errReadOnly, http.StatusMethodNotAllowed, "UNSUPPORTED"},
	{errUnsupported, http.StatusMethodNotAllowed, "UNSUPPORTED"},
	{errNotFound, http.StatusNotFound, "UNSUPPORTED"},
	{errTooManyRequests, http.StatusTooManyRequests, "TOOMANYREQUESTS"},
	// Kinds from the packages below us.
	{errdefs.ErrUnavailable, http.StatusServiceUnavailable, "UNKNOWN"},
	{syscall.ENOSPC, http.StatusInsufficientStorage, "UNKNOWN"},
	{syscall.EDQUOT, http.StatusInsufficientStorage, "UNKNOWN"},
}

// lookupError returns the status and code for err; anything not in the
// table is a 500 UNKNOWN.
func lookupError(err error) (int, string) {
	for _, e := range errorTable {
		if errors.Is(err, e.kind) {
			return e.status, e.code
		}
	}
	return http.StatusInternalServerError, "UNKNOWN"
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError writes err as a spec error body. 5xx messages are generic: the
// detail goes to the access log, not to the client.
func (g *Registry) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	status, code := lookupError(err)
	msg := err.Error()
	if status >= 500 {
		msg = http.StatusText(status)
	}
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", g.challenge(err))
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorItem{{Code: code, Message: msg}}})
	}
	return status
}
