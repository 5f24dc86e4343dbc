package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/errdefs"
)

// maxPage bounds n on tags lists and the catalog.
const maxPage = 10000

// page lists keys of b in lexical (byte) order after last, at most n, and
// reports whether more follow. One cursor seek: a page costs O(n) whatever
// the bucket holds.
func page(b *bolt.Bucket, last string, n int) ([]string, bool) {
	out := []string{}
	if b == nil || n == 0 {
		return out, false
	}
	c := b.Cursor()
	var k []byte
	if last == "" {
		k, _ = c.First()
	} else {
		k, _ = c.Seek([]byte(last))
		if k != nil && bytes.Equal(k, []byte(last)) {
			k, _ = c.Next()
		}
	}
	for ; k != nil; k, _ = c.Next() {
		if len(out) == n {
			return out, true
		}
		out = append(out, string(k))
	}
	return out, false
}

func pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	n = maxPage
	if s := q.Get("n"); s != "" {
		// A malformed n is ignored, as distribution does.
		if v, perr := strconv.Atoi(s); perr == nil && v >= 0 {
			n = min(v, maxPage)
		}
	}
	return n, q.Get("last"), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", path, q.Encode()))
}

// getTags answers GET /v2/<name>/tags/list[?n=&last=].
func (g *Registry) getTags(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	tags, more, err := g.meta.Tags(r.Context(), rt.Name, last, n)
	if errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("%s: %w", rt.Name, errNameUnknown)
	}
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, rt.Path(), n, tags[len(tags)-1])
	}
	w.Header().Set("Content-Type", "application/json")
	return writeJSON(w, http.StatusOK, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.Name, tags})
}

// getCatalog answers GET /v2/_catalog[?n=&last=].
func (g *Registry) getCatalog(w http.ResponseWriter, r *http.Request) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	repos, more, err := g.meta.Repositories(r.Context(), last, n)
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/_catalog", n, repos[len(repos)-1])
	}
	repos = g.visible(r, repos) // after the link: a page may come out short
	w.Header().Set("Content-Type", "application/json")
	return writeJSON(w, http.StatusOK, struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// getReferrers answers GET /v2/<name>/referrers/<digest>[?artifactType=]
// with an image index of the manifests whose subject is digest
// (distribution-spec "Listing Referrers"). An unknown subject or
// repository is an empty list, not an error.
func (g *Registry) getReferrers(w http.ResponseWriter, r *http.Request, rt route) error {
	filter := r.URL.Query().Get("artifactType")
	descs := []ocispec.Descriptor{}
	refs, err := g.meta.Referrers(r.Context(), rt.Name, rt.Digest)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		rec := ref.Record
		if filter != "" && rec.ArtifactType != filter {
			continue
		}
		descs = append(descs, ocispec.Descriptor{
			MediaType:    rec.MediaType,
			Digest:       ref.Digest,
			Size:         rec.Size,
			ArtifactType: rec.ArtifactType,
			Annotations:  rec.Annotations,
		})
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	return writeJSON(w, http.StatusOK, idx)
}
