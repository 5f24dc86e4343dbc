package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/strata-project/strata/internal/errdefs"
)

// Filters are docker's --filter KEY=VALUE values, by key: the one reading
// of the filters that images, volume ls and the prunes take. Values of one
// key are alternatives; different keys must all match.
type Filters map[string][]string

var boolFilter = map[string]bool{"true": true, "1": true, "false": false, "0": false}

// check refuses keys outside allowed, as docker's "invalid filter", and
// values of the true/false keys (dangling, all) that are neither.
func (f Filters) check(what string, allowed ...string) error {
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range f {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("invalid filter '%s' (%s filter by %s): %w", k, what, strings.Join(allowed, ", "), errdefs.ErrInvalidArgument)
		}
		if k == "dangling" || k == "all" {
			for _, v := range f[k] {
				if _, ok := boolFilter[strings.ToLower(v)]; !ok {
					return fmt.Errorf("invalid filter '%s=%s': want true or false: %w", k, v, errdefs.ErrInvalidArgument)
				}
			}
		}
		if k == "until" {
			if _, err := f.until(time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// anyOf reports whether one of key's values passes ok (true when the key
// is not given).
func (f Filters) anyOf(key string, ok func(string) bool) bool {
	vs := f[key]
	if len(vs) == 0 {
		return true
	}
	return slices.ContainsFunc(vs, ok)
}

// labels is docker's label= (KEY or KEY=VALUE: one must be there) and
// label!= (none may be).
func (f Filters) labels(labels map[string]string) bool {
	has := func(x string) bool {
		k, v, withValue := strings.Cut(x, "=")
		got, ok := labels[k]
		return ok && (!withValue || got == v)
	}
	if slices.ContainsFunc(f["label!"], has) {
		return false
	}
	for _, x := range f["label"] {
		if !has(x) {
			return false // docker's label filters must all hold
		}
	}
	return true
}

// until is the until= filter's time (an RFC 3339 time, Unix seconds or a
// duration before now, as logs --since); the zero time when not given.
func (f Filters) until(now time.Time) (time.Time, error) {
	var latest time.Time
	for _, v := range f["until"] {
		t, err := ParseLogTime(v, now)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid filter 'until=%s': %w", v, err)
		}
		if latest.IsZero() || t.Before(latest) {
			latest = t
		}
	}
	return latest, nil
}

// MatchReference matches an image name (name:tag) against a reference
// filter or an images argument as docker does: a shell pattern (busy*,
// */app:v?) over the familiar name or the full one, the tag optional.
func MatchReference(pattern, name string) bool {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return false
	}
	// Every pattern is tried against the name with and without its tag,
	// as moby's reference.FamiliarMatch: a ':' in the pattern may be a
	// registry's port (127.0.0.1:5000/app), not a tag.
	cands := []string{reference.FamiliarString(named), named.String(), reference.FamiliarName(named), named.Name()}
	for _, cand := range cands {
		if ok, _ := path.Match(pattern, cand); ok {
			return true
		}
	}
	return false
}
