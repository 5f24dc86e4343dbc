package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/strata-project/strata/internal/errdefs"
)

// Client talks to registries. It keeps one connection pool, one set of
// tokens and one credential per registry host. It is safe for concurrent
// use.
type Client struct {
	insecure  []string
	creds     func(ctx context.Context, host string) (Credential, error)
	attempts  int
	backoff   time.Duration
	sessions  SessionStore
	userAgent string
	chunkSize int64

	mu    sync.Mutex
	hosts map[string]*hostState
}

// Option sets a knob of New.
type Option func(*Client)

// WithInsecure names registries (host, host:port or CIDR) reached over
// plain HTTP, in addition to loopback ones. The default is DefaultInsecure().
func WithInsecure(hosts ...string) Option { return func(c *Client) { c.insecure = hosts } }

// WithCredentials sets where credentials come from (default: docker's
// config file, DefaultConfigFile).
func WithCredentials(fn func(ctx context.Context, host string) (Credential, error)) Option {
	return func(c *Client) { c.creds = fn }
}

// WithRetry sets how many times a request that found no server, or a 5xx,
// is tried in all (default 5) and the first wait between tries (default
// 200 ms, doubling).
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *Client) { c.attempts, c.backoff = max(attempts, 1), backoff }
}

// WithSessions makes pushes remember their upload URLs there, so a push
// cut short resumes in a later process.
func WithSessions(s SessionStore) Option { return func(c *Client) { c.sessions = s } }

// WithChunkSize sets the size of each PATCH of a blob upload (default 32 MiB).
func WithChunkSize(n int64) Option { return func(c *Client) { c.chunkSize = n } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client.
func New(opts ...Option) *Client {
	c := &Client{
		attempts:  5,
		backoff:   200 * time.Millisecond,
		userAgent: "strata",
		chunkSize: 32 << 20,
		hosts:     map[string]*hostState{},
	}
	c.insecure = DefaultInsecure()
	cfg := DefaultConfigFile()
	c.creds = cfg.Get
	for _, o := range opts {
		o(c)
	}
	return c
}

// hostState is what the client knows of one registry host.
type hostState struct {
	c           *Client
	domain      string // as in references and the config file: localhost:5000, docker.io
	base        string // scheme://apihost, set for good by the first ping
	insecure    bool   // loopback or named insecure: HTTPS unverified if it answers, else HTTP
	client      *http.Client
	tokenClient *http.Client

	pingMu     sync.Mutex // one first ping at a time
	mu         sync.Mutex
	pinged     bool
	challenge  challenge
	cred       Credential
	credLoaded bool
	tokens     map[string]token
}

func (c *Client) host(domain string) (*hostState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.hosts[domain]; ok {
		return h, nil
	}
	api := apiHost(domain)
	insecure := plainHTTP(api, c.insecure) || plainHTTP(domain, c.insecure)
	t, err := newTransport(api, insecure)
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if insecure {
		scheme = "http"
	}
	h := &hostState{
		c: c, domain: domain, base: scheme + "://" + api, insecure: insecure,
		client:      &http.Client{Transport: t},
		tokenClient: &http.Client{Transport: http.DefaultTransport, Timeout: time.Minute},
		tokens:      map[string]token{},
	}
	if isLoopback(api) {
		h.tokenClient.Transport = t
	}
	c.hosts[domain] = h
	return h, nil
}

// send makes a request, trying again with backoff when no server answered
// or it answered 5xx or 429, if retry allows. newReq builds each try (a
// body is read once per try). The last 5xx response is returned as it is;
// the last connection error wrapped with ErrUnavailable.
func (c *Client) send(ctx context.Context, hc *http.Client, newReq func() (*http.Request, error), retry bool) (*http.Response, error) {
	wait := c.backoff
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		last := !retry || attempt >= c.attempts
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if last {
				return nil, fmt.Errorf("%s %s: %w (tried %d times): %w", req.Method, redact(req.URL), errors.Unwrap(err), attempt, errdefs.ErrUnavailable)
			}
		} else {
			transient := resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented || resp.StatusCode == http.StatusTooManyRequests
			if !transient || last {
				return resp, nil
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func redact(u *url.URL) string {
	v := *u
	v.RawQuery = ""
	return v.String()
}

// ping learns the registry's challenge from GET /v2/ once.
func (h *hostState) ping(ctx context.Context) error {
	h.pingMu.Lock()
	defer h.pingMu.Unlock()
	h.mu.Lock()
	done := h.pinged
	h.mu.Unlock()
	if done {
		return nil
	}
	if h.insecure && strings.HasPrefix(h.base, "http://") {
		// As docker does for insecure registries: HTTPS (unverified) when
		// the registry speaks it, plain HTTP otherwise. One try: a plain
		// server fails the handshake at once.
		tls := "https://" + strings.TrimPrefix(h.base, "http://")
		resp, err := h.c.send(ctx, h.client, func() (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, tls+"/v2/", nil)
		}, false)
		if err == nil {
			resp.Body.Close()
			h.base = tls
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	resp, err := h.c.send(ctx, h.client, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/v2/", nil)
		if err == nil {
			req.Header.Set("User-Agent", h.c.userAgent)
		}
		return req, err
	}, true)
	if err != nil {
		return fmt.Errorf("registry %s: %w", h.domain, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		ch := parseChallenge(resp.Header.Get("WWW-Authenticate"))
		h.mu.Lock()
		h.challenge = ch
		h.mu.Unlock()
	case resp.StatusCode >= 500:
		return fmt.Errorf("registry %s: %w", h.domain, &Error{Host: h.domain, StatusCode: resp.StatusCode})
	}
	h.mu.Lock()
	h.pinged = true
	h.mu.Unlock()
	return nil
}

// request is one call to a registry.
type request struct {
	method string
	url    string // absolute, or a path under the host's base
	header http.Header
	// body makes the body of each try; nil for none.
	body   func() (io.Reader, error)
	size   int64 // the body's length, -1 unknown
	scopes []string
	// noRetry: the request is not idempotent (a PATCH of an upload).
	noRetry bool
}

// do sends r with authorization, answering one 401 by taking the new
// challenge (a new token for a new scope, or Basic) and trying again.
func (h *hostState) do(ctx context.Context, r request) (*http.Response, error) {
	if err := h.ping(ctx); err != nil {
		return nil, err
	}
	target := r.url
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = h.base + target
	}
	for reauth := false; ; reauth = true {
		newReq := func() (*http.Request, error) {
			var body io.Reader
			if r.body != nil {
				b, err := r.body()
				if err != nil {
					return nil, err
				}
				body = b
			}
			req, err := http.NewRequestWithContext(ctx, r.method, target, body)
			if err != nil {
				return nil, err
			}
			if r.body != nil && r.size >= 0 {
				req.ContentLength = r.size
				if r.size == 0 {
					req.Body = http.NoBody
				}
			}
			for k, v := range r.header {
				req.Header[k] = v
			}
			req.Header.Set("User-Agent", h.c.userAgent)
			if err := h.authorize(ctx, req, r.scopes); err != nil {
				return nil, err
			}
			return req, nil
		}
		resp, err := h.c.send(ctx, h.client, newReq, !r.noRetry)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || reauth {
			return resp, nil
		}
		ch := parseChallenge(resp.Header.Get("WWW-Authenticate"))
		if ch.Scheme == "" {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		h.forget(r.scopes)
		h.mu.Lock()
		h.challenge = ch
		h.mu.Unlock()
		if s := ch.Params["scope"]; s != "" && ch.Scheme == "bearer" {
			for _, sc := range strings.Fields(s) {
				if !contains(r.scopes, sc) {
					r.scopes = append(r.scopes, sc)
				}
			}
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Repository is one repository on a registry.
type Repository struct {
	h *hostState
	// Domain is the registry as named in references (localhost:5000).
	Domain string
	// Path is the repository's path on it (library/busybox).
	Path   string
	scopes []string
}

// Repository returns a handle on the repository of named. push asks for
// push rights as well as pull.
func (c *Client) Repository(ctx context.Context, named reference.Named, push bool) (*Repository, error) {
	domain := reference.Domain(named)
	h, err := c.host(domain)
	if err != nil {
		return nil, err
	}
	path := reference.Path(named)
	actions := "pull"
	if push {
		actions = "pull,push"
	}
	return &Repository{h: h, Domain: domain, Path: path, scopes: []string{"repository:" + path + ":" + actions}}, nil
}

// Name is DOMAIN/PATH, as docker prints it.
func (r *Repository) Name() string { return r.Domain + "/" + r.Path }

func (r *Repository) url(kind, ref string) string {
	return "/v2/" + r.Path + "/" + kind + "/" + ref
}

// Login checks cred against the registry of domain: GET /v2/ answered with
// the challenge's scheme, a token for Bearer. It returns nil when the
// registry wants no credentials at all.
func (c *Client) Login(ctx context.Context, domain string, cred Credential) error {
	h, err := c.host(domain)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.cred, h.credLoaded, h.pinged = cred, true, false
	h.tokens = map[string]token{}
	h.mu.Unlock()
	if err := h.ping(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	ch := h.challenge
	h.mu.Unlock()
	if ch.Scheme == "" {
		return nil
	}
	resp, err := h.do(ctx, request{method: http.MethodGet, url: "/v2/"})
	if err != nil {
		var re *Error
		if errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("login to %s: unauthorized: incorrect username or password: %w", domain, errdefs.ErrUnauthorized)
		}
		return fmt.Errorf("login to %s: %w", domain, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("login to %s: unauthorized: incorrect username or password: %w", domain, errdefs.ErrUnauthorized)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login to %s: %w", domain, responseError(domain, resp))
	}
	return nil
}
