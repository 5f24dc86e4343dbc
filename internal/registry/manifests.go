package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// resolve turns a manifest route into its digest and record.
func (g *Registry) resolve(ctx context.Context, rt route) (digest.Digest, *manifestRecord, error) {
	dgst := rt.Digest
	if rt.Tag != "" {
		d, err := g.meta.ResolveTag(ctx, rt.Name, rt.Tag)
		if errors.Is(err, errdefs.ErrNotFound) {
			return "", nil, fmt.Errorf("%s:%s: %w", rt.Name, rt.Tag, errManifestUnknown)
		}
		if err != nil {
			return "", nil, err
		}
		dgst = d
	}
	rec, err := g.meta.Manifest(ctx, rt.Name, dgst)
	if errors.Is(err, errdefs.ErrNotFound) {
		return "", nil, fmt.Errorf("%s@%s: %w", rt.Name, dgst, errManifestUnknown)
	}
	return dgst, rec, err
}

// getManifest serves GET and HEAD. The stored media type is the answer
// whatever the Accept header says: the registry never converts manifests,
// and clients that send a narrow Accept still expect the manifest they
// pushed (as the conformance suite's location check does). HEAD reads
// nothing but the index.
func (g *Registry) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	dgst, rec, err := g.resolve(r.Context(), rt)
	if err != nil {
		return err
	}
	if !acceptable(r.Header.Values("Accept"), rec.MediaType) {
		// As distribution does: a client that lists what it takes and
		// no index type cannot use an index (and there is nothing to
		// convert it to).
		return fmt.Errorf("%s is an index and the client does not accept one: %w", dgst, errManifestUnknown)
	}
	h := w.Header()
	h.Set("Content-Type", rec.MediaType)
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("ETag", `"`+dgst.String()+`"`)
	h.Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	body, err := g.manifestBytes(r.Context(), dgst, rec.Size)
	if err != nil {
		h.Del("Content-Length")
		return err
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// acceptable decides content negotiation: any single-image manifest is
// served whatever Accept says (clients that omit a type they can parse
// still get what was pushed, as the conformance suite expects), while an
// index or manifest list is only sent to clients that list it, a wildcard,
// or nothing at all.
func acceptable(accept []string, mediaType string) bool {
	if len(accept) == 0 || (mediaType != ocispec.MediaTypeImageIndex && mediaType != mediaTypeDockerManifestList) {
		return true
	}
	for _, line := range accept {
		for _, a := range strings.Split(line, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(a), ";")
			switch strings.TrimSpace(mt) {
			case mediaType, "*/*", "application/*":
				return true
			}
		}
	}
	return false
}

func (g *Registry) manifestBytes(ctx context.Context, dgst digest.Digest, size int64) ([]byte, error) {
	if b, ok := g.cache.get(dgst); ok {
		return b, nil
	}
	b, err := readBlob(ctx, g.blobs, dgst, size)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, fmt.Errorf("manifest %s: %w", dgst, errManifestUnknown)
		}
		return nil, fmt.Errorf("read manifest %s: %w", dgst, err)
	}
	g.cache.add(dgst, b)
	return b, nil
}

// putManifest stores a manifest: body capped at 4 MiB (413), digest checked
// against a digest reference, JSON validated, config and layers required in
// the repository (index children too), then the bytes committed to the
// store before the index points at them.
func (g *Registry) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	if r.ContentLength > maxManifestSize {
		return fmt.Errorf("manifest of %d bytes, limit %d: %w", r.ContentLength, maxManifestSize, errManifestTooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return fmt.Errorf("receive manifest: %v: %w", err, errManifestInvalid)
	}
	if len(body) > maxManifestSize {
		return fmt.Errorf("manifest over %d bytes: %w", maxManifestSize, errManifestTooLarge)
	}
	alg := digest.SHA256
	if rt.Digest != "" {
		alg = rt.Digest.Algorithm()
	}
	dgst := alg.FromBytes(body)
	if rt.Digest != "" && rt.Digest != dgst {
		return fmt.Errorf("manifest %s: body digests to %s: %w", rt.Digest, dgst, errDigestInvalid)
	}
	tags := r.URL.Query()["tag"] // distribution-spec 1.1+dev ?tag= on a put by digest
	if rt.Tag != "" {
		tags = append(tags, rt.Tag)
	}
	for _, t := range tags {
		if !validTag(t) {
			return fmt.Errorf("tag %.200q: %w", t, errManifestInvalid)
		}
	}
	p, err := decodeManifest(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	p.record.Created = time.Now()
	ctx := r.Context()

	// Check the references before storing anything (PutManifest checks
	// them again in the transaction that records the manifest).
	if err := g.checkRefs(ctx, rt.Name, p.mustExist, p.children); err != nil {
		return err
	}
	release, err := g.meta.Lock(ctx, false)
	if err != nil {
		return fmt.Errorf("store manifest %s: %w", dgst, err)
	}
	defer release()
	if err := g.blobs.Put(ctx, dgst, int64(len(body)), bytes.NewReader(body)); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return fmt.Errorf("store manifest %s: %w", dgst, err)
	}
	if err := g.meta.PutManifest(ctx, rt.Name, dgst, &p.record, tags, p.mustExist, p.children); err != nil {
		var me *backend.MissingError
		if errors.As(err, &me) {
			return fmt.Errorf("%v: %w", me, errManifestBlobUnknown)
		}
		return err
	}
	g.cache.add(dgst, body)
	h := w.Header()
	h.Set("Location", route{Kind: routeManifest, Name: rt.Name, Digest: dgst}.Path())
	h.Set("Docker-Content-Digest", dgst.String())
	if p.record.Subject != "" {
		h.Set("OCI-Subject", p.record.Subject.String())
	}
	for _, t := range r.URL.Query()["tag"] {
		h.Add("OCI-Tag", t)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteManifest deletes a tag (leaving the manifest) or, by digest, the
// manifest with every tag on it.
func (g *Registry) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	var err error
	if rt.Tag != "" {
		err = g.meta.DeleteTag(r.Context(), rt.Name, rt.Tag)
	} else {
		err = g.meta.DeleteManifest(r.Context(), rt.Name, rt.Digest)
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("%s: %v: %w", rt.Name, err, errManifestUnknown)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// manifestCache keeps recently served manifest bodies. Bodies are
// immutable under their digest, so nothing is ever stale; only the total
// size is bounded (when full, it starts over).
type manifestCache struct {
	mu    sync.RWMutex
	max   int
	size  int
	items map[digest.Digest][]byte
}

func newManifestCache(max int) *manifestCache {
	return &manifestCache{max: max, items: map[digest.Digest][]byte{}}
}

func (c *manifestCache) get(d digest.Digest) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, ok := c.items[d]
	return b, ok
}

func (c *manifestCache) add(d digest.Digest, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[d]; ok || len(b) > c.max/4 {
		return
	}
	if c.size+len(b) > c.max {
		c.items = map[digest.Digest][]byte{}
		c.size = 0
	}
	c.items[d] = b
	c.size += len(b)
}

// checkRefs fails with MANIFEST_BLOB_UNKNOWN when the repository lacks a
// blob or child manifest a manifest needs.
func (g *Registry) checkRefs(ctx context.Context, repo string, blobs, children []digest.Digest) error {
	for _, d := range blobs {
		ok, err := g.meta.BlobLinked(ctx, repo, d)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("blob %s: %w", d, errManifestBlobUnknown)
		}
	}
	for _, d := range children {
		_, err := g.meta.Manifest(ctx, repo, d)
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("manifest %s: %w", d, errManifestBlobUnknown)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readBlob reads a small blob (a manifest) whole, through the manifest
// cap, and checks it against its digest.
func readBlob(ctx context.Context, blobs backend.Blobs, dgst digest.Digest, size int64) ([]byte, error) {
	f, err := blobs.Open(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size || dgst.Algorithm().FromBytes(b) != dgst {
		return nil, fmt.Errorf("%w: blob %s: stored bytes do not match", errdefs.ErrDataCorrupt, dgst)
	}
	return b, nil
}
