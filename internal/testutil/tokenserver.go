package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenServer is a small distribution-style token server
// (https://distribution.github.io/distribution/spec/auth/token/) on a
// loopback httptest server, for testing a registry's bearer-token auth
// with real clients: GET /token?service=S&scope=repository:NAME:pull,push
// (Basic credentials optional: without them the token is anonymous), or
// the OAuth2 password grant POSTed there, answers a JWT signed with an
// ECDSA key whose self-signed certificate is in Bundle.
type TokenServer struct {
	URL     string // the token endpoint: the registry's auth.token.realm
	Service string // the audience of its tokens
	Issuer  string
	Bundle  string // PEM file of the signing certificate: auth.token.rootcertbundle

	// Users are the accepted Basic credentials, user → password.
	Users map[string]string
	// Grant says which of the asked actions user ("" when anonymous) gets
	// on resource typ:name ("repository", "app").
	Grant func(user, typ, name string, actions []string) []string
	// KeyID, when set, names the key in the "kid" header (as Harbor and
	// docker_auth do); when nil the certificate goes in "x5c".
	KeyID func(crypto.PublicKey) string

	key  *ecdsa.PrivateKey
	cert []byte // DER

	mu     sync.Mutex
	issued []string // "user scope..." per token, for tests to inspect
}

// NewTokenServer starts a token server for service; it stops with the
// test.
func NewTokenServer(t testing.TB, service string) *TokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata test token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "token-ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := &TokenServer{Service: service, Issuer: "strata-test-issuer", Bundle: bundle, Users: map[string]string{}, key: key, cert: der}
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	ts.URL = srv.URL + "/token"
	return ts
}

// Issued returns a line per token issued so far: the user and its access.
func (ts *TokenServer) Issued() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.issued...)
}

type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ServeHTTP answers token requests on any path, so that a test can also
// serve tokens from the registry's own host (as Harbor does; crane only
// follows a realm on a loopback address when it is the registry's
// host:port).
func (ts *TokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var user, pass string
	var hasCreds bool
	var scopes []string
	service := ""
	switch r.Method {
	case http.MethodGet:
		user, pass, hasCreds = r.BasicAuth()
		scopes, service = r.URL.Query()["scope"], r.URL.Query().Get("service")
	case http.MethodPost: // OAuth2 password grant
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "password" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		user, pass, hasCreds = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		scopes, service = strings.Fields(r.PostForm.Get("scope")), r.PostForm.Get("service")
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if service != ts.Service {
		http.Error(w, `{"error":"invalid_request","error_description":"unknown service"}`, http.StatusBadRequest)
		return
	}
	if hasCreds {
		if want, ok := ts.Users[user]; !ok || want != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusUnauthorized)
			return
		}
	} else {
		user = ""
	}
	access := []tokenAccess{}
	for _, s := range scopes {
		for _, one := range strings.Split(s, " ") {
			parts := strings.Split(one, ":")
			if len(parts) < 3 {
				continue
			}
			typ, name, acts := parts[0], strings.Join(parts[1:len(parts)-1], ":"), strings.Split(parts[len(parts)-1], ",")
			granted := []string{}
			if ts.Grant != nil {
				granted = ts.Grant(user, typ, name, acts)
			}
			access = append(access, tokenAccess{Type: typ, Name: name, Actions: granted})
		}
	}
	now := time.Now()
	signed, err := ts.sign(jwt.MapClaims{
		"iss":    ts.Issuer,
		"sub":    user,
		"aud":    ts.Service,
		"exp":    now.Add(5 * time.Minute).Unix(),
		"nbf":    now.Add(-time.Second).Unix(),
		"iat":    now.Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(big.NewInt(now.UnixNano()).Bytes()),
		"access": access,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b, _ := json.Marshal(access)
	ts.mu.Lock()
	ts.issued = append(ts.issued, user+" "+string(b))
	ts.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": signed, "access_token": signed, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339),
	})
}

// Sign signs arbitrary claims with the server's key (kid or x5c as it is
// set up), for tests of what a registry refuses.
func (ts *TokenServer) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := ts.sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (ts *TokenServer) sign(claims jwt.MapClaims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	if ts.KeyID != nil {
		tok.Header["kid"] = ts.KeyID(&ts.key.PublicKey)
	} else {
		tok.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(ts.cert)}
	}
	return tok.SignedString(ts.key)
}
