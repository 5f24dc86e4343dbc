package registry

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AuthConfig selects how callers authenticate when not with htpasswd.
type AuthConfig struct {
	Token *TokenAuth `yaml:"token"`
}

// TokenAuth is distribution's token authentication
// (https://distribution.github.io/distribution/spec/auth/token/): a
// client refused with
//
//	WWW-Authenticate: Bearer realm="<Realm>",service="<Service>",scope="repository:app:pull"
//
// asks the token server at Realm for a JWT, signed by a key whose
// certificate chains to RootCertBundle, issued by Issuer for Service, whose
// "access" claim lists what it may do:
//
//	{"type": "repository", "name": "app", "actions": ["pull", "push"]}
//
// The token decides; an access section, when present too, must also allow
// the token's subject. Token servers such as Harbor core and docker_auth
// name their key with a "kid" header (libtrust's key ID of the public key)
// or send the certificate chain in "x5c"; both are accepted.
//
// Tokens are parsed with github.com/golang-jwt/jwt/v5, the maintained JWT
// library Harbor's token service also uses, with the accepted algorithms
// pinned to asymmetric ones (no "none", no HMAC with a public key as the
// secret) and exp required.
type TokenAuth struct {
	Realm          string `yaml:"realm"`
	Service        string `yaml:"service"`
	Issuer         string `yaml:"issuer"`
	RootCertBundle string `yaml:"rootcertbundle"`
}

// tokenVerifier checks bearer tokens against one TokenAuth.
type tokenVerifier struct {
	cfg   TokenAuth
	roots *x509.CertPool
	keys  map[string]crypto.PublicKey // by libtrust key ID
}

// tokenClockSkew is the leeway on exp, nbf and iat between the token
// server's clock and ours.
const tokenClockSkew = time.Minute

func newTokenVerifier(cfg TokenAuth) (*tokenVerifier, error) {
	for _, f := range []struct{ name, v string }{{"realm", cfg.Realm}, {"service", cfg.Service}, {"issuer", cfg.Issuer}, {"rootcertbundle", cfg.RootCertBundle}} {
		if f.v == "" {
			return nil, fmt.Errorf("auth.token.%s is missing (accepted: realm, service, issuer and rootcertbundle, all required)", f.name)
		}
	}
	b, err := os.ReadFile(cfg.RootCertBundle)
	if err != nil {
		return nil, fmt.Errorf("auth.token.rootcertbundle: %w", err)
	}
	v := &tokenVerifier{cfg: cfg, roots: x509.NewCertPool(), keys: map[string]crypto.PublicKey{}}
	for len(b) > 0 {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth.token.rootcertbundle %s: %w", cfg.RootCertBundle, err)
		}
		v.roots.AddCert(cert)
		id, err := libtrustKeyID(cert.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("auth.token.rootcertbundle %s: %w", cfg.RootCertBundle, err)
		}
		v.keys[id] = cert.PublicKey
	}
	if len(v.keys) == 0 {
		return nil, fmt.Errorf("auth.token.rootcertbundle %s: no PEM certificate in it (accepted: the token server's signing certificates, PEM)", cfg.RootCertBundle)
	}
	return v, nil
}

// libtrustKeyID is the key ID docker's libtrust (and so distribution,
// Harbor and docker_auth) gives a public key: the SHA-256 of its PKIX DER
// form cut to 240 bits, base32, in twelve colon-separated groups of four.
func libtrustKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	s := base32.StdEncoding.EncodeToString(sum[:30])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String(), nil
}

// tokenClaims are the claims of a distribution token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Access []tokenAccess `json:"access"`
}

type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// grants reports whether the token allows action on resource (type, name);
// "*" among the actions grants all of them, as in distribution.
func (c *tokenClaims) grants(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// verify parses and checks a bearer token: signature by a trusted key
// (asymmetric algorithms only), issuer, audience, and its time window.
func (v *tokenVerifier) verify(raw string) (*tokenClaims, error) {
	claims := &tokenClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, v.key,
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Service),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(tokenClockSkew),
	)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// key finds the verification key from the token's header: a certificate
// chain (x5c) that chains to the bundle, or the key ID (kid) of a key in
// it.
func (v *tokenVerifier) key(t *jwt.Token) (any, error) {
	if x5c, ok := t.Header["x5c"].([]any); ok && len(x5c) > 0 {
		var chain []*x509.Certificate
		for _, e := range x5c {
			s, _ := e.(string)
			der, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("x5c: %w", err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("x5c: %w", err)
			}
			chain = append(chain, c)
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		return chain[0].PublicKey, nil
	}
	if kid, ok := t.Header["kid"].(string); ok {
		if k, ok := v.keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %.60q: not a key of the root certificate bundle", kid)
	}
	return nil, errors.New("token names no key (neither x5c nor kid)")
}

// challenge is the WWW-Authenticate value sending a client to the token
// server for scope (empty for a bare /v2/ check).
func (v *tokenVerifier) challenge(scope string, insufficient bool) string {
	s := fmt.Sprintf("Bearer realm=%q,service=%q", v.cfg.Realm, v.cfg.Service)
	if scope != "" {
		s += fmt.Sprintf(",scope=%q", scope)
	}
	if insufficient {
		s += `,error="insufficient_scope"`
	}
	return s
}
