package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Authentication and authorization: who the caller is (htpasswd Basic
// auth, a bearer token, or nobody) and whether the access policy lets it
// do what the route asks. Both sit in the HTTP layer, above storage, and
// run before any handler.

// caller is who sent a request.
type caller struct {
	user  string       // "" for anonymous (or a token without a subject)
	token *tokenClaims // the verified bearer token, in token mode
}

// authenticated reports whether the request carried valid credentials.
func (c caller) authenticated() bool { return c.user != "" || c.token != nil }

type callerKey struct{}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// authError is a 401 with the challenge that tells the client how to
// authenticate for what it asked (a token scope, in token mode).
type authError struct {
	err       error
	challenge string
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// authOn reports whether callers can authenticate at all.
func (g *Registry) authOn() bool { return g.auth != nil || g.token != nil }

// challenge is the WWW-Authenticate value of a 401 for err.
func (g *Registry) challenge(err error) string {
	var ae *authError
	if errors.As(err, &ae) && ae.challenge != "" {
		return ae.challenge
	}
	if g.token != nil {
		return g.token.challenge("", false)
	}
	return fmt.Sprintf("Basic realm=%q", g.opts.Realm)
}

// authenticate finds the caller. Missing credentials are not an error
// here (the policy may let anonymous callers in); wrong ones are.
func (g *Registry) authenticate(r *http.Request) (caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" || !g.authOn() {
		return caller{}, nil
	}
	if g.token != nil {
		scheme, raw, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || raw == "" {
			return caller{}, &authError{errUnauthorized, g.token.challenge("", false)}
		}
		claims, err := g.token.verify(raw)
		if err != nil {
			return caller{}, &authError{fmt.Errorf("bearer token: %v: %w", err, errUnauthorized),
				g.token.challenge("", false) + `,error="invalid_token"`}
		}
		return caller{user: claims.Subject, token: claims}, nil
	}
	user, pass, ok := r.BasicAuth()
	if ok && user == "" && pass == "" {
		// skopeo, without a login, sends "Basic Og==" (":") after a
		// Basic challenge: no credentials, not wrong ones.
		return caller{}, nil
	}
	if !ok || !g.auth.Authenticate(user, pass) {
		return caller{}, errUnauthorized
	}
	return caller{user: user}, nil
}

// allowed reports whether c may do a on repo: in token mode a token must
// grant it (a request without one is always sent to the token server,
// which also issues anonymous tokens), and the policy allow it. With no
// access section, any authenticated caller may, and everyone when no
// authentication is set up.
func (g *Registry) allowed(c caller, repo string, a Action) bool {
	if g.token != nil && (c.token == nil || !c.token.grants("repository", repo, string(a))) {
		return false
	}
	if g.policy.open {
		return !g.authOn() || c.authenticated()
	}
	return g.policy.allows(c.user, repo, a)
}

// actionFor is the action a request on a repository route needs.
func actionFor(kind routeKind, method string) Action {
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return ActionPull
	case method == http.MethodDelete && (kind == routeManifest || kind == routeBlob):
		return ActionDelete
	}
	return ActionPush // uploads (their cancel too) and manifest puts
}

// authorize decides whether c may make request r on rt, and returns r
// (carrying c for the catalog, which shows only what c may pull).
// A refused anonymous caller gets 401 with a challenge, so that clients
// send credentials; a refused authenticated one 403 DENIED (in token mode
// 401 insufficient_scope, so that the client asks for a better token).
func (g *Registry) authorize(r *http.Request, rt route, c caller) (*http.Request, error) {
	switch rt.Kind {
	case routeBase:
		// Clients learn the challenge here; answering 200 to an
		// anonymous ping would make docker never send credentials.
		if g.authOn() && !c.authenticated() {
			return r, errUnauthorized
		}
		return r, nil
	case routeCatalog:
		if g.token != nil && (c.token == nil || !c.token.grants("registry", "catalog", "*")) {
			return r, &authError{fmt.Errorf("catalog: %w", errUnauthorized), g.token.challenge("registry:catalog:*", c.token != nil)}
		}
		if g.authOn() && !c.authenticated() && g.policy.open {
			return r, errUnauthorized
		}
		// getCatalog lists only what c may pull.
		return r.WithContext(context.WithValue(r.Context(), callerKey{}, c)), nil
	case routeAdminGC, routeAdminFsck:
		return r, g.authorizeAdmin(r, c)
	}
	a := actionFor(rt.Kind, r.Method)
	if !g.allowed(c, rt.Name, a) {
		return r, g.deny(c, rt.Name, a)
	}
	if a == ActionDelete && !g.opts.Delete {
		return r, fmt.Errorf("delete %s: deletes are turned off (delete: true in the registry config turns them on): %w", rt.Name, errUnsupported)
	}
	if rt.Kind == routeUploads && r.Method == http.MethodPost {
		g.checkMount(r, c)
	}
	return r, nil
}

func (g *Registry) deny(c caller, repo string, a Action) error {
	if g.token != nil {
		scope := "repository:" + repo + ":" + string(a)
		if a == ActionPush {
			scope = "repository:" + repo + ":pull,push" // what docker asks for
		}
		return &authError{fmt.Errorf("%s %s: %w", a, repo, errUnauthorized), g.token.challenge(scope, c.token != nil)}
	}
	if !c.authenticated() {
		return fmt.Errorf("%s %s: %w", a, repo, errUnauthorized)
	}
	return fmt.Errorf("%s %s: %w", a, repo, errDenied)
}

// checkMount turns a cross-repository mount the caller may not read from
// into a plain upload, as distribution does: the target's push was
// checked already; the source needs pull. A mount without "from" (spec
// 1.1's any-repository mount) reaches every repository, so under a policy
// it needs pull on all of them (never so with a token, which names its
// repositories).
func (g *Registry) checkMount(r *http.Request, c caller) {
	q := r.URL.Query()
	if q.Get("mount") == "" || (g.policy.open && g.token == nil) {
		return
	}
	from := q.Get("from")
	if from != "" && validName(from) && g.allowed(c, from, ActionPull) {
		return
	}
	if from == "" && g.token == nil && g.policy.pullsAll(c.user) {
		return
	}
	q.Del("mount")
	q.Del("from")
	r.URL.RawQuery = q.Encode()
}

// visible keeps the repositories of names the caller of r may pull (the
// catalog shows nothing else).
func (g *Registry) visible(r *http.Request, names []string) []string {
	if g.policy.open {
		return names
	}
	c := callerFrom(r.Context())
	out := names[:0:0]
	for _, n := range names {
		if g.policy.allows(c.user, n, ActionPull) {
			out = append(out, n)
		}
	}
	return out
}

// authorizeAdmin guards /strata/v1/*: with no authentication set up, only
// loopback clients; otherwise the admins, or, with neither admins nor an
// access section (the behaviour before policies), any authenticated user.
func (g *Registry) authorizeAdmin(r *http.Request, c caller) error {
	if !g.authOn() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("admin endpoint from %s: %w", r.RemoteAddr, errDenied)
		}
		return nil
	}
	if !c.authenticated() {
		return errUnauthorized
	}
	if g.policy.admins[c.user] || (g.policy.open && len(g.policy.admins) == 0 && g.token == nil) {
		return nil
	}
	return fmt.Errorf("admin endpoint: %q is not an admin: %w", c.user, errDenied)
}

// MinGCGrace is the smallest grace a GC may be asked for without Force:
// below it, a GC can delete the blobs of an upload still in progress or
// of a manifest being pushed.
const MinGCGrace = 10 * time.Minute

// CheckGCGrace refuses a grace below MinGCGrace unless force is set (a
// grace of 0 means the server's default).
func CheckGCGrace(grace time.Duration, force bool) error {
	if grace <= 0 || grace >= MinGCGrace || force {
		return nil
	}
	return fmt.Errorf("gc grace %s: below %s it can delete uploads and pushes in progress (accepted: a grace of at least %s, or --force)", grace, MinGCGrace, MinGCGrace)
}

// ExposureWarning is a warning to print when opts would let anyone who
// reaches a non-loopback address write, or "" when not.
func ExposureWarning(opts Options) string {
	if opts.ReadOnly || opts.HtpasswdPath != "" || opts.Auth.Token != nil {
		return ""
	}
	if !anonymousWrites(opts.AccessPolicy) {
		return ""
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:5000"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("warning: serving %s writable without authentication: anyone who reaches it may push (and delete, with delete: true); set htpasswd or auth.token, or --read-only", addr)
}

// anonymousWrites reports whether a registry without authentication lets
// anonymous callers write under p.
func anonymousWrites(p AccessPolicy) bool {
	if p.Access == nil {
		return true
	}
	for _, r := range p.Access {
		if r.Anonymous {
			for _, a := range r.Actions {
				if a == ActionPush || a == ActionDelete {
					return true
				}
			}
		}
	}
	return false
}
