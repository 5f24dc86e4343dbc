package filters

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
)

// Filters are docker's --filter KEY=VALUE values, by key. Values of one
// key are alternatives; different keys must all match.
type Filters map[string][]string

// Bool is the value of the true/false keys (dangling, all): true, 1,
// false or 0, in any case, as Check accepts them.
func Bool(v string) bool { return Bools[strings.ToLower(v)] }

// Bools are the values, lower-cased, the true/false keys take.
var Bools = map[string]bool{"true": true, "1": true, "false": false, "0": false}

// Check refuses keys outside allowed, as docker's "invalid filter", and
// values of the true/false keys (dangling, all) that are neither.
func (f Filters) Check(what string, allowed ...string) error {
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
				if _, ok := Bools[strings.ToLower(v)]; !ok {
					return fmt.Errorf("invalid filter '%s=%s': want true or false: %w", k, v, errdefs.ErrInvalidArgument)
				}
			}
		}
		if k == "until" {
			if _, err := f.Until(time.Now()); err != nil {
				return err
			}
		}
	}
	return nil
}

// AnyOf reports whether one of key's values passes ok (true when the key
// is not given).
func (f Filters) AnyOf(key string, ok func(string) bool) bool {
	vs := f[key]
	if len(vs) == 0 {
		return true
	}
	return slices.ContainsFunc(vs, ok)
}

// Labels is docker's label= (KEY or KEY=VALUE: one must be there) and
// label!= (none may be).
func (f Filters) Labels(labels map[string]string) bool {
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

// Until is the until= filter's time (an RFC 3339 time, Unix seconds or a
// duration before now, as logs --since); the zero time when not given.
func (f Filters) Until(now time.Time) (time.Time, error) {
	var latest time.Time
	for _, v := range f["until"] {
		t, err := ParseTime(v, now)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid filter 'until=%s': %w", v, err)
		}
		if latest.IsZero() || t.Before(latest) {
			latest = t
		}
	}
	return latest, nil
}
