package registry

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// AccessPolicy is who may do what, as the registry config file writes it
// (see LoadConfig):
//
//	delete: false            # DELETE of manifests and blobs answers 405 UNSUPPORTED
//	admins: [alice]          # may call /strata/v1/* (gc, fsck) and everything else
//	access:                  # first rule matching (repository, caller) wins; none = denied
//	  - repos: ["alice/**"]  # * within one path segment, ** any number of segments
//	    users: [alice]
//	    actions: [pull, push, delete]
//	  - repos: ["public/**"]
//	    anonymous: true      # requests without credentials
//	    actions: [pull]
//	  - repos: ["**"]
//	    users: ["*"]         # any authenticated user
//	    actions: [pull]
//
// It is enforced in the HTTP layer, above storage, so it is the same
// whatever keeps the blobs and the index.
type AccessPolicy struct {
	// Delete turns on DELETE of manifests and blobs (off by default, as
	// in distribution). Cancelling one's own upload is part of a push and
	// needs no Delete.
	Delete bool `yaml:"delete"`
	// Admins may call the admin endpoints (GC, fsck) and do every action
	// on every repository. With no Admins and no Access, any authenticated
	// user may call them, as before policies existed.
	Admins []string `yaml:"admins"`
	// Access, when present (even empty), is the list of rules; when
	// absent, every authenticated caller may do everything (and, with no
	// authentication configured, everyone).
	Access []AccessRule `yaml:"access"`
	// Auth selects bearer-token authentication (auth_token.go) instead
	// of htpasswd.
	Auth AuthConfig `yaml:"auth"`
}

// AccessRule grants Actions on the repositories matching one of Repos to
// the callers it names: Users ("*" is any authenticated user) and, with
// Anonymous, requests without credentials.
type AccessRule struct {
	Repos     []string `yaml:"repos"`
	Users     []string `yaml:"users"`
	Anonymous bool     `yaml:"anonymous"`
	Actions   []Action `yaml:"actions"`
}

// Action is what a request does to a repository, with the words of
// distribution's token scopes.
type Action string

const (
	ActionPull   Action = "pull"   // GET/HEAD of manifests, blobs, tags, referrers; listed in _catalog
	ActionPush   Action = "push"   // uploads, manifest puts (and a mount's target)
	ActionDelete Action = "delete" // DELETE of manifests and blobs
)

var actions = []Action{ActionPull, ActionPush, ActionDelete}

// policy is an AccessPolicy checked and compiled.
type policy struct {
	admins map[string]bool
	rules  []rule // nil when the config has no access section
	open   bool   // no access section: authenticated callers may do everything
}

type rule struct {
	repos     []glob
	users     map[string]bool
	anyUser   bool
	anonymous bool
	actions   map[Action]bool
}

// compilePolicy checks p. Errors are one line naming the value and what is
// accepted.
func compilePolicy(p AccessPolicy) (*policy, error) {
	c := &policy{admins: map[string]bool{}, open: p.Access == nil}
	for _, a := range p.Admins {
		if a == "" || a == "*" {
			return nil, fmt.Errorf("admins: %q is not a user name (accepted: the names of users)", a)
		}
		c.admins[a] = true
	}
	for i, r := range p.Access {
		where := fmt.Sprintf("access[%d]", i)
		if len(r.Repos) == 0 {
			return nil, fmt.Errorf("%s: no repos (accepted: a list of globs such as \"team/**\")", where)
		}
		if len(r.Users) == 0 && !r.Anonymous {
			return nil, fmt.Errorf("%s: names no users and is not anonymous, so it matches nobody (accepted: users: [NAME, \"*\"] or anonymous: true)", where)
		}
		cr := rule{users: map[string]bool{}, anonymous: r.Anonymous, actions: map[Action]bool{}}
		for _, s := range r.Repos {
			g, err := compileGlob(s)
			if err != nil {
				return nil, fmt.Errorf("%s.repos: %w", where, err)
			}
			cr.repos = append(cr.repos, g)
		}
		for _, u := range r.Users {
			switch u {
			case "":
				return nil, fmt.Errorf("%s.users: empty user name (accepted: user names, or \"*\" for any authenticated user)", where)
			case "*":
				cr.anyUser = true
			default:
				cr.users[u] = true
			}
		}
		for _, a := range r.Actions {
			if !slices.Contains(actions, a) {
				return nil, fmt.Errorf("%s.actions: unknown action %q (accepted: pull, push, delete)", where, a)
			}
			cr.actions[a] = true
		}
		c.rules = append(c.rules, cr)
	}
	return c, nil
}

// allows reports whether the policy lets user (anonymous when "") do
// action on repo: an admin may do everything; without an access section
// every authenticated user may; otherwise the first rule matching the
// repository and the caller decides.
func (p *policy) allows(user, repo string, action Action) bool {
	if user != "" && p.admins[user] {
		return true
	}
	if p.open {
		return user != ""
	}
	parts := strings.Split(repo, "/")
	for _, r := range p.rules {
		if !r.matchesCaller(user) || !r.matchesRepo(parts) {
			continue
		}
		return r.actions[action]
	}
	return false
}

// pullsAll reports whether user may pull every repository there is or
// could be: an admin, or a caller whose rules, up to the first that
// matches every name ("**"), all grant pull.
func (p *policy) pullsAll(user string) bool {
	if user != "" && p.admins[user] {
		return true
	}
	if p.open {
		return user != ""
	}
	for _, r := range p.rules {
		if !r.matchesCaller(user) {
			continue
		}
		if !r.actions[ActionPull] {
			return false
		}
		for _, g := range r.repos {
			if len(g.segs) == 1 && g.segs[0] == "**" {
				return true
			}
		}
	}
	return false
}

func (r *rule) matchesCaller(user string) bool {
	if user == "" {
		return r.anonymous
	}
	return r.anyUser || r.users[user]
}

func (r *rule) matchesRepo(parts []string) bool {
	for _, g := range r.repos {
		if g.matchParts(parts) {
			return true
		}
	}
	return false
}

// glob is a repository pattern: segments separated by "/", where a
// segment "**" matches any number of whole segments (zero included, so
// "alice/**" matches "alice" too) and "*" inside a segment matches any run
// of characters within it.
type glob struct {
	segs []string
}

var errBadGlob = errors.New(`accepted: "/"-separated segments of a-z 0-9 . _ - where "*" matches within one segment and a whole segment "**" matches any depth`)

func compileGlob(s string) (glob, error) {
	bad := func(why string) (glob, error) {
		return glob{}, fmt.Errorf("bad glob %q: %s (%w)", s, why, errBadGlob)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > 2*maxNameLen {
		return bad("too long")
	}
	var g glob
	for seg := range strings.SplitSeq(s, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "**":
			if len(g.segs) > 0 && g.segs[len(g.segs)-1] == "**" {
				continue // "**/**" is "**"
			}
		case strings.Contains(seg, "**"):
			return bad(`"**" must be a whole segment`)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '*') {
				return bad(fmt.Sprintf("character %q", c))
			}
		}
		g.segs = append(g.segs, seg)
	}
	return g, nil
}

// match reports whether name matches g.
func (g glob) match(name string) bool { return g.matchParts(strings.Split(name, "/")) }

// matchParts matches the segments of a name, in O(len(g.segs) ×
// len(parts)) whatever the pattern (no backtracking blow-up), without
// allocating for names of up to maxStackParts segments.
func (g glob) matchParts(parts []string) bool {
	const maxStackParts = 64
	var a, b [maxStackParts + 1]bool
	ok, next := a[:], b[:]
	if len(parts) > maxStackParts {
		ok, next = make([]bool, len(parts)+1), make([]bool, len(parts)+1)
	}
	ok, next = ok[:len(parts)+1], next[:len(parts)+1]
	// ok[j]: the segments of g seen so far match parts[:j].
	clear(ok)
	ok[0] = true
	for _, seg := range g.segs {
		wild := strings.Contains(seg, "*")
		for j := range next {
			switch {
			case seg == "**":
				// Zero segments, or one more than a shorter prefix.
				next[j] = ok[j] || (j > 0 && next[j-1])
			case j == 0 || !ok[j-1]:
				next[j] = false
			case wild:
				next[j], _ = path.Match(seg, parts[j-1]) // seg holds no [ ? \: never an error
			default:
				next[j] = seg == parts[j-1]
			}
		}
		ok, next = next, ok
	}
	return ok[len(parts)]
}
