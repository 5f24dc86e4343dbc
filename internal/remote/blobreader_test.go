package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestOpenBlobResumes: a body cut short is resumed from the byte the
// reader got to, so the reader sees the whole blob once; a registry that
// ignores Range has the bytes already read skipped; a body cut again and
// again without progress fails naming the byte it stopped at.
func TestOpenBlobResumes(t *testing.T) {
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	desc := ocispec.Descriptor{Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	for _, tc := range []struct {
		name       string
		cuts       []int // bytes sent by each GET before it is cut; -1: the rest
		ignoreRng  bool
		wantErr    string
		wantRanges []string
	}{
		{"two cuts", []int{300 << 10, 200 << 10, -1}, false, "", []string{"", "bytes=307200-", "bytes=512000-"}},
		{"range ignored", []int{100 << 10, -1}, true, "", []string{"", "bytes=102400-"}},
		{"no progress", []int{10, 0, 0, 0, 0, 0}, false, "stopped at byte 10 of 1048576", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var ranges []string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "/blobs/") {
					return
				}
				mu.Lock()
				n := len(ranges)
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
				start := 0
				if rg := r.Header.Get("Range"); rg != "" && !tc.ignoreRng {
					start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
					w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(blob)-1)+"/"+strconv.Itoa(len(blob)))
					w.Header().Set("Content-Length", strconv.Itoa(len(blob)-start))
					w.WriteHeader(http.StatusPartialContent)
				} else {
					w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
				}
				end := len(blob)
				if n < len(tc.cuts) && tc.cuts[n] >= 0 {
					end = min(end, start+tc.cuts[n])
				}
				w.Write(blob[start:end])
				if end < len(blob) {
					w.(http.Flusher).Flush()    // the headers and what was written
					panic(http.ErrAbortHandler) // cut the connection
				}
			})
			srv := httptest.NewServer(h)
			defer srv.Close()
			named, _ := reference.ParseNormalizedNamed(strings.TrimPrefix(srv.URL, "http://") + "/a/b")
			ctx := context.Background()
			repo, err := New(WithCredentials(nil), WithInsecure(), WithRetry(5, time.Millisecond)).Repository(ctx, named, false)
			if err != nil {
				t.Fatal(err)
			}
			rc, start, err := repo.OpenBlob(ctx, desc, 0)
			if err != nil || start != 0 {
				t.Fatalf("OpenBlob: %d, %v", start, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("read: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("read %d bytes (%v), want the blob", len(got), err)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(ranges, ",") != strings.Join(tc.wantRanges, ",") {
				t.Errorf("Range headers %q, want %q", ranges, tc.wantRanges)
			}
		})
	}
}
