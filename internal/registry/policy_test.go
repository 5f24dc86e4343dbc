package registry

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		glob string
		yes  []string
		no   []string
	}{
		{"**", []string{"a", "a/b", "a/b/c"}, nil},
		{"alice/**", []string{"alice", "alice/app", "alice/a/b"}, []string{"alice2", "bob/alice", "alicex/app"}},
		{"*", []string{"a", "app"}, []string{"a/b"}},
		{"team/*", []string{"team/app"}, []string{"team", "team/a/b", "other/app"}},
		{"team/*-dev", []string{"team/app-dev", "team/-dev"}, []string{"team/app-prod", "team/x/app-dev"}},
		{"**/cache", []string{"cache", "a/cache", "a/b/cache"}, []string{"a/cache/x", "acache"}},
		{"a/**/z", []string{"a/z", "a/b/z", "a/b/c/z"}, []string{"a", "z", "a/z/y"}},
		{"a/**/**/z", []string{"a/z", "a/b/c/z"}, []string{"a/y"}},
		{"lib/app", []string{"lib/app"}, []string{"lib/app2", "lib", "lib/app/x"}},
		{"*/*", []string{"a/b"}, []string{"a", "a/b/c"}},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.glob)
		if err != nil {
			t.Fatalf("%s: %v", tt.glob, err)
		}
		for _, n := range tt.yes {
			if !g.match(n) {
				t.Errorf("%q does not match %q", tt.glob, n)
			}
		}
		for _, n := range tt.no {
			if g.match(n) {
				t.Errorf("%q matches %q", tt.glob, n)
			}
		}
	}
}

// TestPolicyBadInput: a policy that cannot mean what it says fails at
// start with one line naming the value and what is accepted, through the
// config file as the CLI reads it.
func TestPolicyBadInput(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown action", "access:\n  - repos: [\"**\"]\n    users: [\"*\"]\n    actions: [pull, pusj]\n",
			[]string{`access[0].actions: unknown action "pusj"`, "accepted: pull, push, delete"}},
		{"bad glob character", "access:\n  - repos: [\"Team/**\"]\n    users: [bob]\n    actions: [pull]\n",
			[]string{`access[0].repos: bad glob "Team/**": character 'T'`, `accepted: "/"-separated segments`}},
		{"bad glob double star", "access:\n  - repos: [\"ok\"]\n    users: [bob]\n    actions: [pull]\n  - repos: [\"team/**x\"]\n    users: [bob]\n    actions: [pull]\n",
			[]string{`access[1].repos: bad glob "team/**x": "**" must be a whole segment`}},
		{"bad glob bracket", "access:\n  - repos: [\"team/[ab]\"]\n    users: [bob]\n    actions: [pull]\n", []string{`bad glob "team/[ab]": character '['`}},
		{"empty segment", "access:\n  - repos: [\"team//x\"]\n    users: [bob]\n    actions: [pull]\n", []string{`bad glob "team//x": empty segment`}},
		{"no repos", "access:\n  - users: [bob]\n    actions: [pull]\n", []string{"access[0]: no repos"}},
		{"nobody", "access:\n  - repos: [\"**\"]\n    actions: [pull]\n", []string{"access[0]: names no users and is not anonymous"}},
		{"actions not a list", "access:\n  - repos: [\"**\"]\n    users: [bob]\n    actions: pull\n", []string{"cannot unmarshal"}},
		{"unknown key", "access:\n  - repos: [\"**\"]\n    user: [bob]\n", []string{"field user not found"}},
		{"star admin", "admins: [\"*\"]\n", []string{`admins: "*" is not a user name`}},
		{"token incomplete", "auth:\n  token:\n    realm: http://127.0.0.1:1/token\n", nil},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "registry.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			opts, err := LoadConfig(p)
			if err == nil {
				// Checked when the registry opens (it reads files).
				_, err = New(nil, t.TempDir(), opts)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			t.Log(msg)
		})
	}
}

// globRegexp is the reference semantics of a glob, written independently
// of the matcher, on "/" + name: a segment is "/" and its text, "**" any
// number of segments, "*" any run within one.
func globRegexp(g glob) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, s := range g.segs {
		if s == "**" {
			b.WriteString(`(?:/[^/]*)*`)
			continue
		}
		b.WriteString("/" + strings.ReplaceAll(regexp.QuoteMeta(s), `\*`, `[^/]*`))
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// FuzzGlob: a pattern either fails to compile with the one-line error, or
// matches exactly what the regular-expression reference matches; and a
// valid repository name used as a pattern matches itself.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"alice/**", "alice/app"}, {"**", "a/b"}, {"a/**/z", "a/b/z"}, {"*/x", "a/x"}, {"team/*-dev", "team/app-dev"},
		{"**/cache", "cache"}, {"a/**/**/b", "a/b"}, {"Team/**", "team/x"}, {"a//b", "a/b"}, {"***", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		g, err := compileGlob(pattern)
		if err != nil {
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "bad glob") {
				t.Fatalf("error %q", err)
			}
		} else if got, want := g.match(name), globRegexp(g).MatchString("/"+name); got != want {
			t.Fatalf("glob %q on %q: %v, reference %v (%s)", pattern, name, got, want, globRegexp(g))
		}
		if validName(name) {
			g, err := compileGlob(name)
			if err != nil || !g.match(name) {
				t.Fatalf("name %q as a glob: %v, matches itself: %v", name, err, err == nil && g.match(name))
			}
		}
	})
}

func TestPolicyAllows(t *testing.T) {
	p, err := compilePolicy(AccessPolicy{Admins: []string{"root"}, Access: []AccessRule{
		{Repos: []string{"a/**"}, Users: []string{"ann"}, Actions: []Action{ActionPull, ActionPush}},
		{Repos: []string{"a/**"}, Users: []string{"*"}, Actions: nil}, // explicit deny
		{Repos: []string{"**"}, Users: []string{"*"}, Anonymous: true, Actions: []Action{ActionPull}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, repo string
		a          Action
		want       bool
	}{
		{"root", "a/x", ActionDelete, true},
		{"ann", "a/x", ActionPush, true},
		{"ann", "a/x", ActionDelete, false},
		{"ann", "b", ActionPull, true},
		{"bob", "a/x", ActionPull, false}, // the first matching rule decides
		{"bob", "b", ActionPull, true},
		{"bob", "b", ActionPush, false},
		{"", "b", ActionPull, true},
		{"", "a/x", ActionPull, true}, // the deny names users, not anonymous
	} {
		if got := p.allows(tt.user, tt.repo, tt.a); got != tt.want {
			t.Errorf("allows(%q, %q, %s) = %v, want %v", tt.user, tt.repo, tt.a, got, tt.want)
		}
	}
	// Who may mount without "from" (every repository readable). The check
	// is conservative: ann could read everything (rule 2 never decides for
	// her), but a rule without pull before the catch-all says no.
	for user, want := range map[string]bool{"root": true, "ann": false, "bob": false, "": true} {
		if got := p.pullsAll(user); got != want {
			t.Errorf("pullsAll(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestExposureWarning(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		warn bool
	}{
		{"default loopback", Options{}, false},
		{"all interfaces", Options{Addr: ":5000"}, true},
		{"0.0.0.0", Options{Addr: "0.0.0.0:5000"}, true},
		{"public ip", Options{Addr: "192.0.2.1:5000"}, true},
		{"localhost", Options{Addr: "localhost:5000"}, false},
		{"ipv6 loopback", Options{Addr: "[::1]:5000"}, false},
		{"read-only", Options{Addr: ":5000", ReadOnly: true}, false},
		{"htpasswd", Options{Addr: ":5000", HtpasswdPath: "/x"}, false},
		{"token", Options{Addr: ":5000", AccessPolicy: AccessPolicy{Auth: AuthConfig{Token: &TokenAuth{}}}}, false},
		{"anonymous pull only", Options{Addr: ":5000", AccessPolicy: AccessPolicy{Access: []AccessRule{{Repos: []string{"**"}, Anonymous: true, Actions: []Action{ActionPull}}}}}, false},
		{"anonymous push", Options{Addr: ":5000", AccessPolicy: AccessPolicy{Access: []AccessRule{{Repos: []string{"**"}, Anonymous: true, Actions: []Action{ActionPush}}}}}, true},
	} {
		if got := ExposureWarning(tt.opts) != ""; got != tt.warn {
			t.Errorf("%s: warning %v, want %v", tt.name, got, tt.warn)
		}
	}
}

// BenchmarkPolicyAllows is the cost the policy adds to each request: the
// issue's policy, a caller whose decision comes from the last rule.
func BenchmarkPolicyAllows(b *testing.B) {
	p, err := compilePolicy(AccessPolicy{Admins: []string{"alice"}, Access: []AccessRule{
		{Repos: []string{"alice/**"}, Users: []string{"alice"}, Actions: []Action{ActionPull, ActionPush, ActionDelete}},
		{Repos: []string{"public/**"}, Anonymous: true, Actions: []Action{ActionPull}},
		{Repos: []string{"team/*/cache", "**/tmp"}, Users: []string{"*"}, Actions: []Action{ActionPull, ActionPush}},
		{Repos: []string{"**"}, Users: []string{"*"}, Actions: []Action{ActionPull}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.allows("bob", "team/app/builds/x86", ActionPull) {
			b.Fatal("denied")
		}
	}
}
