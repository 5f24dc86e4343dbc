package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
)

// challenge is a parsed WWW-Authenticate header (RFC 7235): a scheme and
// its parameters, e.g. Bearer realm="https://auth/token",service="reg".
type challenge struct {
	Scheme string // "basic" or "bearer", lower-case; "" when none
	Params map[string]string
}

// parseChallenge reads the first challenge of a WWW-Authenticate header.
func parseChallenge(h string) challenge {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	c := challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			// quoted-string, with backslash escapes
			var b strings.Builder
			i := 1
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			c.Params[k] = b.String()
			rest = v[min(i+1, len(v)):]
		} else {
			end := strings.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			c.Params[k] = strings.TrimSpace(v[:end])
			rest = v[end:]
		}
		rest = strings.TrimPrefix(strings.TrimSpace(rest), ",")
	}
	return c
}

type token struct {
	value   string
	expires time.Time
}

// scopeKey is a canonical key for a set of scopes.
func scopeKey(scopes []string) string {
	s := append([]string(nil), scopes...)
	sort.Strings(s)
	return strings.Join(s, " ")
}

// authorize adds the Authorization header host h wants for scopes.
func (h *hostState) authorize(ctx context.Context, req *http.Request, scopes []string) error {
	h.mu.Lock()
	ch := h.challenge
	h.mu.Unlock()
	switch ch.Scheme {
	case "basic":
		cred, err := h.credential(ctx)
		if err != nil {
			return err
		}
		if cred.Username != "" || cred.Password != "" {
			req.SetBasicAuth(cred.Username, cred.Password)
		}
	case "bearer":
		tok, err := h.token(ctx, ch, scopes)
		if err != nil {
			return err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return nil
}

func (h *hostState) credential(ctx context.Context) (Credential, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.credLoaded {
		return h.cred, nil
	}
	if h.c.creds != nil {
		cred, err := h.c.creds(ctx, h.domain)
		if err != nil {
			return Credential{}, fmt.Errorf("credentials for %s: %w", h.domain, err)
		}
		h.cred = cred
	}
	h.credLoaded = true
	return h.cred, nil
}

// forget drops the cached token of scopes after the registry refused it.
func (h *hostState) forget(scopes []string) {
	h.mu.Lock()
	delete(h.tokens, scopeKey(scopes))
	h.mu.Unlock()
}

// token returns a bearer token for scopes, from the cache or the realm
// (distribution's token auth spec: GET realm?service=&scope=, Basic auth
// with the stored credential; or an OAuth2 refresh-token POST when the
// credential is an identity token).
func (h *hostState) token(ctx context.Context, ch challenge, scopes []string) (string, error) {
	key := scopeKey(scopes)
	h.mu.Lock()
	if t, ok := h.tokens[key]; ok && time.Now().Before(t.expires) {
		h.mu.Unlock()
		return t.value, nil
	}
	h.mu.Unlock()
	cred, err := h.credential(ctx)
	if err != nil {
		return "", err
	}
	realm := ch.Params["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("registry %s: bearer realm %q is not a URL: %w", h.domain, realm, errdefs.ErrInvalidArgument)
	}
	var req *http.Request
	if cred.IdentityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cred.IdentityToken}, "client_id": {"strata"}, "service": {ch.Params["service"]}, "scope": {strings.Join(scopes, " ")}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		q := u.Query()
		if s := ch.Params["service"]; s != "" {
			q.Set("service", s)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", err
		}
		if cred.Username != "" || cred.Password != "" {
			req.SetBasicAuth(cred.Username, cred.Password)
		}
	}
	req.Header.Set("User-Agent", h.c.userAgent)
	resp, err := h.c.send(ctx, h.tokenClient, func() (*http.Request, error) { return req.Clone(ctx), nil }, req.Body == nil)
	if err != nil {
		return "", fmt.Errorf("token from %s: %w", u.Host, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		resp.Body.Close()
		e := &Error{Host: h.domain, StatusCode: http.StatusUnauthorized, Hint: loginHint(h.domain)}
		if !cred.Empty() {
			e.Message = "the token server refused the stored credentials"
			e.Hint = fmt.Sprintf("run \"strata login %s\" again", h.domain)
		}
		return "", e
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token from %s: %w", u.Host, responseError(h.domain, resp))
	}
	defer resp.Body.Close()
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&body); err != nil {
		return "", fmt.Errorf("token from %s: %v: %w", u.Host, err, errdefs.ErrInvalidArgument)
	}
	tok := body.Token
	if tok == "" {
		tok = body.AccessToken
	}
	life := time.Duration(body.ExpiresIn) * time.Second
	if life < time.Minute {
		life = time.Minute // the spec's default is 60 s
	}
	h.mu.Lock()
	h.tokens[key] = token{value: tok, expires: time.Now().Add(life - 10*time.Second)}
	h.mu.Unlock()
	return tok, nil
}
