package events

import (
	"fmt"
	"slices"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// Filter is docker events' --filter: values of one key match if any
// does, keys must all match. The zero Filter matches everything.
type Filter map[string][]string

// filterKeys are the keys docker events accepts that mean something here.
var filterKeys = []string{"container", "event", "image", "label", "network", "scope", "type", "volume"}

// ParseFilter reads --filter KEY=VALUE flags.
func ParseFilter(args []string) (Filter, error) {
	f := Filter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad format of filter %q (expected name=value): %w", a, errdefs.ErrInvalidArgument)
		}
		f[strings.ToLower(k)] = append(f[strings.ToLower(k)], v)
	}
	return f, f.Validate()
}

// Validate refuses keys docker events does not know.
func (f Filter) Validate() error {
	for k := range f {
		if !slices.Contains(filterKeys, k) {
			return fmt.Errorf("invalid filter %q (accepted: %s): %w", k, strings.Join(filterKeys, ", "), errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// Match reports whether m passes f, as dockerd's events filter decides.
func (f Filter) Match(m Message) bool {
	attrs := m.Actor.Attributes
	fuzzyName := func(key string) bool {
		return f.fuzzy(key, m.Actor.ID) || f.fuzzy(key, attrs["name"])
	}
	return f.exact("type", string(m.Type)) &&
		(f.exact("event", string(m.Action)) || f.exact("event", actionVerb(m.Action))) &&
		f.exact("scope", m.Scope) &&
		(len(f["container"]) == 0 || m.Type == "container" && fuzzyName("container")) &&
		(len(f["network"]) == 0 || m.Type == "network" && fuzzyName("network")) &&
		(len(f["volume"]) == 0 || m.Type == "volume" && fuzzyName("volume")) &&
		f.image(m) && f.labels(attrs)
}

// actionVerb is an action before its colon ("exec_start: sh -c ls").
func actionVerb(a Action) string {
	v, _, _ := strings.Cut(string(a), ":")
	return v
}

// exact: no values for key, or one equal to s.
func (f Filter) exact(key, s string) bool {
	vs := f[key]
	return len(vs) == 0 || slices.Contains(vs, s)
}

// fuzzy: no values for key, or one equal to s or a prefix of it (a short
// ID), s not empty.
func (f Filter) fuzzy(key, s string) bool {
	vs := f[key]
	if len(vs) == 0 {
		return true
	}
	for _, v := range vs {
		if s != "" && v != "" && strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

// image matches an image event's ID or name, or a container event's
// image attribute, with or without its tag.
func (f Filter) image(m Message) bool {
	vs := f["image"]
	if len(vs) == 0 {
		return true
	}
	name := m.Actor.Attributes["image"]
	if m.Type == "image" {
		name = m.Actor.Attributes["name"]
	}
	for _, s := range []string{m.Actor.ID, name, stripTag(m.Actor.ID), stripTag(name)} {
		if s != "" && slices.Contains(vs, s) {
			return true
		}
	}
	return false
}

func stripTag(ref string) string {
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i]
	}
	return ref
}

// labels: every label=KEY or label=KEY=VALUE is among attrs.
func (f Filter) labels(attrs map[string]string) bool {
	for _, l := range f["label"] {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := attrs[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}
