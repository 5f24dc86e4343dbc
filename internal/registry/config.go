package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadConfig reads a YAML file mirroring the flags of `strata registry
// serve`:
//
//	root: /var/lib/strata-registry
//	addr: 127.0.0.1:5000
//	realm: strata
//	htpasswd: ./htpasswd
//	tls-cert: ./cert.pem
//	tls-key: ./key.pem
//	read-only: false
//	gc-grace: 1h
//	gc-interval: 24h
//	upload-expiry: 24h
//	delete: false
//	admins: [alice]
//	access:
//	  - repos: ["alice/**"]
//	    users: [alice]
//	    actions: [pull, push, delete]
//	auth:
//	  token: {realm: "https://auth.example/token", service: registry,
//	          issuer: auth.example, rootcertbundle: ./token-ca.pem}
//
// (AccessPolicy explains delete, admins, access and auth.) Unknown keys
// are errors (a typo must not silently drop auth), and so is a policy
// that does not compile. Relative paths are relative to the file's
// directory. Durations use Go's syntax.
func LoadConfig(path string) (Options, error) {
	var o Options
	b, err := os.ReadFile(path)
	if err != nil {
		return o, fmt.Errorf("registry config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) { // one line per problem: keep the error one line
			return Options{}, fmt.Errorf("registry config %s: %s", path, strings.Join(te.Errors, "; "))
		}
		return Options{}, fmt.Errorf("registry config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	paths := []*string{&o.Root, &o.HtpasswdPath, &o.TLSCert, &o.TLSKey}
	if o.Auth.Token != nil {
		paths = append(paths, &o.Auth.Token.RootCertBundle)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if o.GCGrace < 0 || o.GCInterval < 0 || o.UploadExpiry < 0 {
		return Options{}, fmt.Errorf("registry config %s: durations must not be negative", path)
	}
	if _, err := compilePolicy(o.AccessPolicy); err != nil {
		return Options{}, fmt.Errorf("registry config %s: %w", path, err)
	}
	return o, nil
}
