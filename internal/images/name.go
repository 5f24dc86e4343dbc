package images

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
)

// ParseName normalizes a user's image name: a tag defaults to latest,
// short names get docker.io/library. Names with a digest keep it.
func ParseName(s string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("invalid reference format %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	return reference.TagNameOnly(named), nil
}

// ParseTagged parses a name that must be a tag (for tag, import, build).
func ParseTagged(s string) (reference.NamedTagged, error) {
	named, err := ParseName(s)
	if err != nil {
		return nil, err
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("%q: a target name cannot have a digest, give a tag: %w", s, errdefs.ErrInvalidArgument)
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("%q: not a tagged name: %w", s, errdefs.ErrInvalidArgument)
	}
	return tagged, nil
}

// Familiar writes a name the way docker shows it ("busybox:latest").
func Familiar(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarString(named)
}

// SplitRepoTag splits a stored name into repository and tag for tables;
// a digest name gives tag "<none>".
func SplitRepoTag(name string) (repo, tag string) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name, "<none>"
	}
	repo = reference.FamiliarName(named)
	if t, ok := named.(reference.Tagged); ok {
		return repo, t.Tag()
	}
	return repo, "<none>"
}

// LooksLikeID reports whether s may be an image ID or a prefix of one
// (docker accepts "sha256:abc…" and bare hex of 1 to 64 characters).
func LooksLikeID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ShortID is the 12-character form docker prints.
func ShortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}
