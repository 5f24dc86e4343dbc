package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-project/strata/internal/testutil"
)

// tokenGrant is the token server's policy in these tests: alice may do
// everything on alice/** and list the catalog, anyone (anonymous too) may
// pull public/**, an authenticated user may pull the rest.
func tokenGrant(user, typ, name string, actions []string) []string {
	switch {
	case typ == "registry" && name == "catalog":
		if user == "alice" {
			return actions
		}
		return nil
	case typ != "repository":
		return nil
	case user == "alice" && (name == "alice" || strings.HasPrefix(name, "alice/")):
		return actions
	case strings.HasPrefix(name, "public/") || user != "":
		var out []string
		if slices.Contains(actions, "pull") {
			out = append(out, "pull")
		}
		return out
	}
	return nil
}

func tokenRegistry(t *testing.T, ts *testutil.TokenServer, policy AccessPolicy) *httptest.Server {
	t.Helper()
	policy.Auth = AuthConfig{Token: &TokenAuth{Realm: ts.URL, Service: ts.Service, Issuer: ts.Issuer, RootCertBundle: ts.Bundle}}
	_, srv := newTestRegistry(t, Options{AccessPolicy: policy})
	return srv
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// fetchToken follows a Bearer challenge to the token server, as a client
// does, and returns the token.
func fetchToken(t *testing.T, challenge, user, pass string) string {
	t.Helper()
	if !strings.HasPrefix(challenge, "Bearer ") {
		t.Fatalf("challenge %q is not Bearer", challenge)
	}
	p := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(challenge, -1) {
		p[m[1]] = m[2]
	}
	q := url.Values{"service": {p["service"]}}
	if p["scope"] != "" {
		q.Set("scope", p["scope"])
	}
	rq, err := http.NewRequest("GET", p["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		rq.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var v struct{ Token string }
	if res.StatusCode != 200 || json.Unmarshal(b, &v) != nil {
		t.Fatalf("token server: %d %s", res.StatusCode, b)
	}
	return v.Token
}

// TestTokenFlow walks distribution's token flow over HTTP: challenge,
// token, retry; a token without the scope gets 401 insufficient_scope.
func TestTokenFlow(t *testing.T) {
	for _, mode := range []string{"x5c", "kid"} {
		t.Run(mode, func(t *testing.T) {
			ts := testutil.NewTokenServer(t, "strata-test")
			ts.Users = map[string]string{"alice": "pw-alice", "bob": "pw-bob"}
			ts.Grant = tokenGrant
			if mode == "kid" {
				ts.KeyID = LibtrustKeyID
			}
			srv := tokenRegistry(t, ts, AccessPolicy{Delete: true})
			bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

			r := do(t, srv, req{method: "GET", path: "/v2/"})
			if want := `Bearer realm="` + ts.URL + `",service="strata-test"`; r.status != 401 || r.header.Get("WWW-Authenticate") != want {
				t.Fatalf("ping: %d %q, want 401 %q", r.status, r.header.Get("WWW-Authenticate"), want)
			}
			tok := fetchToken(t, r.header.Get("WWW-Authenticate"), "alice", "pw-alice")
			if r := do(t, srv, req{method: "GET", path: "/v2/", header: bearer(tok)}); r.status != 200 {
				t.Fatalf("ping with a token: %d %s", r.status, r.body)
			}

			// Push to alice/app: challenge names the scope; the token for it works.
			r = do(t, srv, req{method: "POST", path: "/v2/alice/app/blobs/uploads/", header: bearer(tok)})
			ch := r.header.Get("WWW-Authenticate")
			if r.status != 401 || !strings.Contains(ch, `scope="repository:alice/app:pull,push"`) || !strings.Contains(ch, `error="insufficient_scope"`) {
				t.Fatalf("push with a bare token: %d %q", r.status, ch)
			}
			tok = fetchToken(t, ch, "alice", "pw-alice")
			data := []byte("token pushed")
			r = do(t, srv, req{method: "POST", path: "/v2/alice/app/blobs/uploads/?digest=" + digestOf(data), body: data, header: bearer(tok)})
			if r.status != 201 {
				t.Fatalf("push with a scoped token: %d %s", r.status, r.body)
			}

			// bob's token for alice/app carries pull only.
			r = do(t, srv, req{method: "GET", path: "/v2/alice/app/blobs/" + digestOf(data)})
			if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="repository:alice/app:pull"`) {
				t.Fatalf("anonymous pull: %d %q", r.status, r.header.Get("WWW-Authenticate"))
			}
			bobTok := fetchToken(t, strings.Replace(r.header.Get("WWW-Authenticate"), ":pull", ":pull,push", 1), "bob", "pw-bob")
			if r := do(t, srv, req{method: "GET", path: "/v2/alice/app/blobs/" + digestOf(data), header: bearer(bobTok)}); r.status != 200 {
				t.Errorf("bob pull: %d %s", r.status, r.body)
			}
			if r := do(t, srv, req{method: "POST", path: "/v2/alice/app/blobs/uploads/", header: bearer(bobTok)}); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("bob push: %d %q", r.status, r.header.Get("WWW-Authenticate"))
			}

			// The catalog needs registry:catalog:*.
			r = do(t, srv, req{method: "GET", path: "/v2/_catalog", header: bearer(bobTok)})
			if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="registry:catalog:*"`) {
				t.Errorf("catalog with bob's token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
			}
			catTok := fetchToken(t, r.header.Get("WWW-Authenticate"), "alice", "pw-alice")
			if r := do(t, srv, req{method: "GET", path: "/v2/_catalog", header: bearer(catTok)}); r.status != 200 || !strings.Contains(string(r.body), "alice/app") {
				t.Errorf("catalog with alice's token: %d %s", r.status, r.body)
			}
			if mode == "kid" && len(ts.Issued()) == 0 {
				t.Error("no token issued")
			}
		})
	}
}

// TestTokenRefused: tokens the registry must not accept, each 401
// invalid_token.
func TestTokenRefused(t *testing.T) {
	ts := testutil.NewTokenServer(t, "strata-test")
	srv := tokenRegistry(t, ts, AccessPolicy{})
	other := testutil.NewTokenServer(t, "strata-test") // a key not in the bundle
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": ts.Issuer, "sub": "alice", "aud": "strata-test", "exp": now.Add(time.Minute).Unix(),
			"access": []map[string]any{{"type": "repository", "name": "app", "actions": []string{"pull"}}}}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	hmacKey := []byte("not a public key")
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString(hmacKey)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noKeyID := jwt.NewWithClaims(jwt.SigningMethodES256, good())
	noKey, _ := noKeyID.SignedString(ecKey)
	unknownKID := jwt.NewWithClaims(jwt.SigningMethodES256, good())
	unknownKID.Header["kid"] = LibtrustKeyID(&ecKey.PublicKey)
	unknown, _ := unknownKID.SignedString(ecKey)

	if r := do(t, srv, req{method: "GET", path: "/v2/app/tags/list", header: map[string]string{"Authorization": "Bearer " + ts.Sign(t, good())}}); r.status != 404 {
		t.Fatalf("the good token: %d %s (want 404 NAME_UNKNOWN: authorized, nothing there)", r.status, r.body)
	}
	for _, tt := range []struct{ name, token string }{
		{"other signer", other.Sign(t, good())},
		{"wrong issuer", ts.Sign(t, with("iss", "mallory"))},
		{"wrong audience", ts.Sign(t, with("aud", "another-registry"))},
		{"expired", ts.Sign(t, with("exp", now.Add(-2*time.Minute).Unix()))},
		{"no expiry", ts.Sign(t, without("exp"))},
		{"not yet valid", ts.Sign(t, with("nbf", now.Add(10*time.Minute).Unix()))},
		{"hmac", hs},
		{"alg none", none},
		{"no kid nor x5c", noKey},
		{"unknown kid", unknown},
		{"garbage", "abc.def.ghi"},
		{"basic", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + tt.token}
			if tt.token == "" {
				h["Authorization"] = "Basic YWxpY2U6cHc="
			}
			r := do(t, srv, req{method: "GET", path: "/v2/app/tags/list", header: h})
			if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("%d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
		})
	}
}

// TestTokenWithPolicy: with an access section too, the token must grant
// and the policy allow.
func TestTokenWithPolicy(t *testing.T) {
	ts := testutil.NewTokenServer(t, "strata-test")
	srv := tokenRegistry(t, ts, AccessPolicy{Access: []AccessRule{
		{Repos: []string{"frozen/**"}, Users: []string{"*"}, Actions: []Action{ActionPull}},
		{Repos: []string{"**"}, Users: []string{"*"}, Anonymous: true, Actions: []Action{ActionPull, ActionPush}},
	}})
	// The policy alone grants nothing: without a token, off to the token server.
	if r := do(t, srv, req{method: "GET", path: "/v2/app/tags/list"}); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("anonymous without a token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	claims := func(repo string) jwt.MapClaims {
		return jwt.MapClaims{"iss": ts.Issuer, "sub": "alice", "aud": "strata-test", "exp": time.Now().Add(time.Minute).Unix(),
			"access": []map[string]any{{"type": "repository", "name": repo, "actions": []string{"pull", "push"}}}}
	}
	for repo, want := range map[string]int{"frozen/x": 401, "app": 202} {
		r := do(t, srv, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/", header: map[string]string{"Authorization": "Bearer " + ts.Sign(t, claims(repo))}})
		if r.status != want {
			t.Errorf("push %s: %d %s, want %d", repo, r.status, r.body, want)
		}
	}
}

func TestTokenConfigErrors(t *testing.T) {
	ts := testutil.NewTokenServer(t, "s")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"with htpasswd", Options{HtpasswdPath: "/nonexistent", AccessPolicy: AccessPolicy{Auth: AuthConfig{Token: &TokenAuth{Realm: "r", Service: "s", Issuer: "i", RootCertBundle: ts.Bundle}}}}, "exclude each other"},
		{"no bundle", Options{AccessPolicy: AccessPolicy{Auth: AuthConfig{Token: &TokenAuth{Realm: "r", Service: "s", Issuer: "i", RootCertBundle: "/nonexistent"}}}}, "rootcertbundle"},
		{"bundle without certs", Options{AccessPolicy: AccessPolicy{Auth: AuthConfig{Token: &TokenAuth{Realm: "r", Service: "s", Issuer: "i", RootCertBundle: notPEM}}}}, "no PEM certificate"},
	} {
		_, err := New(nil, t.TempDir(), tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestTokenKeyIDLikeDistribution: a token naming its key by kid, as
// Harbor and docker_auth do, is accepted by distribution 2.8 (which
// computes key IDs with docker's libtrust) and by Strata alike, so the
// two agree on the key ID format.
func TestTokenKeyIDLikeDistribution(t *testing.T) {
	ts := testutil.NewTokenServer(t, "strata-test")
	ts.KeyID = LibtrustKeyID
	ts.Grant = func(user, typ, name string, actions []string) []string { return actions }
	dist := "http://" + testutil.DistributionToken(t, ts)
	srv := tokenRegistry(t, ts, AccessPolicy{})
	for name, base := range map[string]string{"distribution": dist, "strata": srv.URL} {
		res, err := http.Get(base + "/v2/app/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		ch := res.Header.Get("WWW-Authenticate")
		if res.StatusCode != 401 || !strings.Contains(ch, `scope="repository:app:pull"`) {
			t.Fatalf("%s without a token: %d %q", name, res.StatusCode, ch)
		}
		tok := fetchToken(t, ch, "", "")
		rq, _ := http.NewRequest("GET", base+"/v2/app/tags/list", nil)
		rq.Header.Set("Authorization", "Bearer "+tok)
		res, err = http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 404 || !strings.Contains(string(b), "NAME_UNKNOWN") {
			t.Errorf("%s with a kid token: %d %s (want 404 NAME_UNKNOWN: let in, nothing there)", name, res.StatusCode, b)
		}
	}
}
