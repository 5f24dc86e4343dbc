package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
//
// Unknown keys are errors (a typo must not silently drop auth). Relative
// paths are relative to the file's directory. Durations use Go's syntax.
func LoadConfig(path string) (Options, error) {
	var o Options
	b, err := os.ReadFile(path)
	if err != nil {
		return o, fmt.Errorf("registry config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		return Options{}, fmt.Errorf("registry config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&o.Root, &o.HtpasswdPath, &o.TLSCert, &o.TLSKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if o.GCGrace < 0 || o.GCInterval < 0 || o.UploadExpiry < 0 {
		return Options{}, fmt.Errorf("registry config %s: durations must not be negative", path)
	}
	return o, nil
}
