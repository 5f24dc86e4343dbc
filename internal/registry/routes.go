package registry

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// routeKind is which endpoint of the distribution spec a path names
// (distribution-spec spec.md#endpoints).
type routeKind int

const (
	routeBase      routeKind = iota + 1 // /v2/
	routeCatalog                        // /v2/_catalog
	routeTags                           // /v2/<name>/tags/list
	routeManifest                       // /v2/<name>/manifests/<reference>
	routeBlob                           // /v2/<name>/blobs/<digest>
	routeUploads                        // /v2/<name>/blobs/uploads/
	routeUpload                         // /v2/<name>/blobs/uploads/<id>
	routeReferrers                      // /v2/<name>/referrers/<digest>
	routeAdminGC                        // /strata/v1/gc
	routeAdminFsck                      // /strata/v1/fsck
)

// route is a parsed request path. Name, Tag, Digest and ID are validated:
// a route never carries a name that could escape a directory or a key
// space.
type route struct {
	Kind   routeKind
	Name   string
	Tag    string        // manifests by tag
	Digest digest.Digest // blobs, referrers, manifests by digest
	ID     string        // uploads
}

var (
	// distribution-spec: <name> is
	// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
	nameComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	uploadPattern = regexp.MustCompile(`^[a-f0-9]{32}$`)
)

// maxNameLen bounds a repository name (as distribution does), so keys and
// Location headers stay small.
const maxNameLen = 255

func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for c := range strings.SplitSeq(name, "/") {
		if !nameComponent.MatchString(c) {
			return false
		}
	}
	return true
}

func validTag(tag string) bool { return tagPattern.MatchString(tag) }

// parseDigest accepts only well-formed digests of algorithms we can hash.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil || !d.Algorithm().Available() {
		return "", fmt.Errorf("digest %.80q: %w", s, errDigestInvalid)
	}
	return d, nil
}

// parseRoute parses an unescaped URL path. The action words are found from
// the end of the path, so a repository may itself contain a component
// named "blobs" or "manifests".
func parseRoute(path string) (route, error) {
	switch path {
	case "/v2", "/v2/":
		return route{Kind: routeBase}, nil
	case "/v2/_catalog":
		return route{Kind: routeCatalog}, nil
	case "/strata/v1/gc":
		return route{Kind: routeAdminGC}, nil
	case "/strata/v1/fsck":
		return route{Kind: routeAdminFsck}, nil
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, fmt.Errorf("path %.200q: %w", path, errNotFound)
	}
	seg := strings.Split(rest, "/")
	n := len(seg)
	var rt route
	var nameEnd int
	switch {
	case n >= 3 && seg[n-3] == "blobs" && seg[n-2] == "uploads" && seg[n-1] == "":
		rt.Kind, nameEnd = routeUploads, n-3
	case n >= 3 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		if !uploadPattern.MatchString(seg[n-1]) {
			return route{}, fmt.Errorf("upload %.80q: %w", seg[n-1], errBlobUploadUnknown)
		}
		rt.Kind, rt.ID, nameEnd = routeUpload, seg[n-1], n-3
	case n >= 2 && seg[n-2] == "blobs":
		rt.Kind, nameEnd = routeBlob, n-2
	case n >= 2 && seg[n-2] == "manifests":
		rt.Kind, nameEnd = routeManifest, n-2
	case n >= 2 && seg[n-2] == "tags" && seg[n-1] == "list":
		rt.Kind, nameEnd = routeTags, n-2
	case n >= 2 && seg[n-2] == "referrers":
		rt.Kind, nameEnd = routeReferrers, n-2
	default:
		return route{}, fmt.Errorf("path %.200q: %w", path, errNotFound)
	}
	rt.Name = strings.Join(seg[:nameEnd], "/")
	if !validName(rt.Name) {
		return route{}, fmt.Errorf("repository %.300q: %w", rt.Name, errNameInvalid)
	}
	last := seg[n-1]
	switch rt.Kind {
	case routeBlob, routeReferrers:
		d, err := parseDigest(last)
		if err != nil {
			return route{}, err
		}
		rt.Digest = d
	case routeManifest:
		if strings.Contains(last, ":") {
			d, err := parseDigest(last)
			if err != nil {
				return route{}, err
			}
			rt.Digest = d
		} else if validTag(last) {
			rt.Tag = last
		} else {
			return route{}, fmt.Errorf("reference %.200q: %w", last, errManifestInvalid)
		}
	}
	return rt, nil
}

// Path is the canonical path of rt (parseRoute(rt.Path()) == rt).
func (rt route) Path() string {
	switch rt.Kind {
	case routeBase:
		return "/v2/"
	case routeCatalog:
		return "/v2/_catalog"
	case routeAdminGC:
		return "/strata/v1/gc"
	case routeAdminFsck:
		return "/strata/v1/fsck"
	case routeTags:
		return "/v2/" + rt.Name + "/tags/list"
	case routeManifest:
		if rt.Digest != "" {
			return "/v2/" + rt.Name + "/manifests/" + rt.Digest.String()
		}
		return "/v2/" + rt.Name + "/manifests/" + rt.Tag
	case routeBlob:
		return "/v2/" + rt.Name + "/blobs/" + rt.Digest.String()
	case routeUploads:
		return "/v2/" + rt.Name + "/blobs/uploads/"
	case routeUpload:
		return "/v2/" + rt.Name + "/blobs/uploads/" + rt.ID
	case routeReferrers:
		return "/v2/" + rt.Name + "/referrers/" + rt.Digest.String()
	}
	return ""
}
