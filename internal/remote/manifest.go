package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/manifest"
)

// Accept lists every manifest and index type Strata reads.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest, manifest.DockerManifest,
	ocispec.MediaTypeImageIndex, manifest.DockerManifestList,
}, ", ")

func (r *Repository) manifestHeader() http.Header {
	return http.Header{"Accept": {manifestAccept}}
}

func mediaType(h http.Header) string {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// Resolve finds the descriptor a tag or digest names with a HEAD request,
// falling back to a GET when the registry leaves out the digest.
func (r *Repository) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	resp, err := r.h.do(ctx, request{method: http.MethodHead, url: r.url("manifests", ref), header: r.manifestHeader(), scopes: r.scopes})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		d, derr := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
		mt := mediaType(resp.Header)
		if derr == nil && resp.ContentLength >= 0 && (manifest.IsManifest(mt) || manifest.IsIndex(mt)) {
			return ocispec.Descriptor{MediaType: mt, Digest: d, Size: resp.ContentLength}, nil
		}
	} else if resp.StatusCode != http.StatusMethodNotAllowed {
		return ocispec.Descriptor{}, r.manifestError(ref, resp)
	}
	desc, _, err := r.FetchManifest(ctx, ref)
	return desc, err
}

func (r *Repository) manifestError(ref string, resp *http.Response) error {
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return fmt.Errorf("manifest for %s:%s not found: manifest unknown: %w", r.Name(), ref, errdefs.ErrNotFound)
	}
	return responseError(r.Domain, resp)
}

// FetchManifest GETs the manifest or index a tag or digest names, through
// the 4 MiB cap. Its digest is computed from the bytes: it must equal ref
// when ref is a digest, and the registry's Docker-Content-Digest when that
// uses the same algorithm.
func (r *Repository) FetchManifest(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	resp, err := r.h.do(ctx, request{method: http.MethodGet, url: r.url("manifests", ref), header: r.manifestHeader(), scopes: r.scopes})
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return ocispec.Descriptor{}, nil, r.manifestError(ref, resp)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, manifest.MaxSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("read manifest %s: %w", ref, err)
	}
	if len(b) > manifest.MaxSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s is over the %d byte limit: %w", ref, manifest.MaxSize, errdefs.ErrInvalidArgument)
	}
	alg := digest.Canonical
	want, isDigest := digest.Digest(ref), false
	if want.Validate() == nil {
		alg, isDigest = want.Algorithm(), true
	}
	got := alg.FromBytes(b)
	if isDigest && got != want {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: digest mismatch (got %s): the registry sent corrupt data: %w", want, got, errdefs.ErrDataCorrupt)
	}
	if hd, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && hd.Algorithm() == alg && hd != got {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: the registry says its digest is %s but its bytes hash to %s: %w", ref, hd, got, errdefs.ErrDataCorrupt)
	}
	mt := mediaType(resp.Header)
	if !manifest.IsManifest(mt) && !manifest.IsIndex(mt) {
		mt = manifest.DetectMediaType(b)
	}
	if !manifest.IsManifest(mt) && !manifest.IsIndex(mt) {
		return ocispec.Descriptor{}, nil, fmt.Errorf("manifest %s: media type %q is not an image manifest or index: %w", ref, mt, errdefs.ErrNotImplemented)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(b))}, b, nil
}

// PutManifest uploads a manifest or index under ref (a tag or its digest).
func (r *Repository) PutManifest(ctx context.Context, ref string, mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	resp, err := r.h.do(ctx, request{
		method: http.MethodPut, url: r.url("manifests", ref),
		header: http.Header{"Content-Type": {mediaType}},
		body:   func() (io.Reader, error) { return bytes.NewReader(b), nil }, size: int64(len(b)),
		scopes: r.scopes,
	})
	if err != nil {
		return desc, err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return desc, fmt.Errorf("put manifest %s: %w", ref, responseError(r.Domain, resp))
	}
	resp.Body.Close()
	return desc, nil
}

// Tags lists the repository's tags, following Link pagination.
func (r *Repository) Tags(ctx context.Context) ([]string, error) {
	var out []string
	next := "/v2/" + r.Path + "/tags/list?n=1000"
	for next != "" {
		resp, err := r.h.do(ctx, request{method: http.MethodGet, url: next, scopes: r.scopes})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("list tags of %s: %w", r.Name(), responseError(r.Domain, resp))
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		err = jsonDecode(resp.Body, &body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", r.Name(), err)
		}
		out = append(out, body.Tags...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			if s, e := strings.Index(l, "<"), strings.Index(l, ">"); s >= 0 && e > s {
				next = l[s+1 : e]
			}
		}
	}
	return out, nil
}
