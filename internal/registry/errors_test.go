package registry

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// specCodes is the error code table of distribution-spec v1.1
// (spec.md#error-codes, code-1 … code-14).
var specCodes = []string{
	"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
	"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
	"NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
}

func TestErrorTableCodes(t *testing.T) {
	var got []string
	for _, e := range errorTable {
		if !slices.Contains(got, e.code) {
			got = append(got, e.code)
		}
		if e.code != "UNKNOWN" && !slices.Contains(specCodes, e.code) {
			t.Errorf("table code %q is not in the spec", e.code)
		}
		if e.code != "UNKNOWN" && (e.status < 400 || e.status > 499) {
			t.Errorf("%s: spec codes are client errors, got status %d", e.code, e.status)
		}
	}
	for _, c := range specCodes {
		if !slices.Contains(got, c) {
			t.Errorf("spec code %s has no row in errorTable", c)
		}
	}
	for i, e := range errorTable {
		for _, f := range errorTable[i+1:] {
			if e.kind == f.kind {
				t.Errorf("kind %v appears twice", e.kind)
			}
		}
	}
}

func TestLookupError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"wrapped", fmt.Errorf("blob x: %w", errBlobUnknown), http.StatusNotFound, "BLOB_UNKNOWN"},
		{"range", errRangeInvalid, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID"},
		{"too large", errManifestTooLarge, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID"},
		{"read-only", errReadOnly, http.StatusMethodNotAllowed, "UNSUPPORTED"},
		{"ours", errors.New("disk on fire"), http.StatusInternalServerError, "UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := lookupError(tt.err)
			if diff := cmp.Diff([]any{tt.status, tt.code}, []any{status, code}); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
