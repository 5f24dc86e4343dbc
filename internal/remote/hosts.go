package remote

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DockerHub is the name docker uses for the default registry, and the host
// its API lives on.
const (
	DockerHub     = "docker.io"
	dockerHubAPI  = "registry-1.docker.io"
	dockerHubAuth = "https://index.docker.io/v1/"
)

// CertDirs are searched for HOST/ca.crt (and *.crt, client.cert and
// client.key), docker's layout first.
var CertDirs = []string{"/etc/docker/certs.d", "/etc/strata/certs.d"}

// DaemonConfig is docker's daemon config; its insecure-registries are
// honoured.
var DaemonConfig = "/etc/docker/daemon.json"

// InsecureEnv names the environment variable holding a comma-separated list
// of registries (host[:port] or CIDR) to reach over plain HTTP.
const InsecureEnv = "STRATA_INSECURE_REGISTRIES"

// DefaultInsecure reads the insecure registries from $STRATA_INSECURE_REGISTRIES
// and docker's daemon.json.
func DefaultInsecure() []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(InsecureEnv), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if b, err := os.ReadFile(DaemonConfig); err == nil {
		var cfg struct {
			Insecure []string `json:"insecure-registries"`
		}
		if json.Unmarshal(b, &cfg) == nil {
			out = append(out, cfg.Insecure...)
		}
	}
	return out
}

// apiHost maps a reference's domain to the host its API lives on.
func apiHost(domain string) string {
	if domain == DockerHub || domain == "index.docker.io" {
		return dockerHubAPI
	}
	return domain
}

// isLoopback reports whether host (with or without port) is localhost or
// in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	h := hostOnly(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

// plainHTTP reports whether host is reached over HTTP: loopback, or named
// (by host, host:port or a CIDR holding its IP) in insecure.
func plainHTTP(host string, insecure []string) bool {
	if isLoopback(host) {
		return true
	}
	ip := net.ParseIP(hostOnly(host))
	for _, s := range insecure {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
		s = strings.TrimSuffix(s, "/")
		if s == host || s == hostOnly(host) {
			return true
		}
		if _, n, err := net.ParseCIDR(s); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// tlsConfig is the system pool plus the registry's own CA files, and its
// client certificate when one is there.
func tlsConfig(host string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	for _, base := range CertDirs {
		dir := filepath.Join(base, host)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, fmt.Errorf("registry %s: CA file: %w", host, err)
				}
				if !pool.AppendCertsFromPEM(b) {
					return nil, fmt.Errorf("registry %s: %s holds no PEM certificate", host, p)
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(p, ".cert") + ".key"
				c, err := tls.LoadX509KeyPair(p, key)
				if err != nil {
					return nil, fmt.Errorf("registry %s: client certificate: %w", host, err)
				}
				cfg.Certificates = append(cfg.Certificates, c)
			}
		}
	}
	return cfg, nil
}

// newTransport is one connection pool per registry host. An insecure host's
// certificate is not verified (it may also be spoken to over plain HTTP).
func newTransport(host string, insecure bool) (*http.Transport, error) {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	if isLoopback(host) {
		t.Proxy = nil
	}
	cfg, err := tlsConfig(host)
	if err != nil {
		return nil, err
	}
	cfg.InsecureSkipVerify = insecure
	t.TLSClientConfig = cfg
	return t, nil
}
