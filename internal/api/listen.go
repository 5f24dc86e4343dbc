package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
)

// DefaultURI is where the service listens unless told otherwise: the path
// docker clients reach with DOCKER_HOST=unix:///run/strata/docker.sock.
const DefaultURI = "unix:///run/strata/docker.sock"

// Listen opens a listener for uri: unix:///PATH (mode 0660, group "docker"
// when that group exists, as dockerd's socket) or tcp://HOST:PORT. The API
// gives root on this machine to whoever reaches it, so tcp is served on a
// loopback address, or on any other only with tlsConfig verifying client
// certificates (TLSConfig with a CA: docker's --tlsverify).
func Listen(uri string, tlsConfig *tls.Config) (net.Listener, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %v (want unix:///PATH or tcp://127.0.0.1:PORT): %w", uri, err, errdefs.ErrInvalidArgument)
	}
	switch u.Scheme {
	case "unix":
		if tlsConfig != nil {
			return nil, fmt.Errorf("listen %q: TLS is for tcp:// addresses (a unix socket is guarded by its mode and group): %w", uri, errdefs.ErrInvalidArgument)
		}
		return listenUnix(u.Path)
	case "tcp":
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %v (want tcp://HOST:PORT): %w", uri, err, errdefs.ErrInvalidArgument)
		}
		ip := net.ParseIP(host)
		loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
		verified := tlsConfig != nil && tlsConfig.ClientAuth == tls.RequireAndVerifyClientCert
		if !loopback && !verified {
			return nil, fmt.Errorf("listen %q: the Engine API is served over tcp on a loopback address, or on another only with --tlsverify --tlscacert --tlscert --tlskey (whoever reaches it is root on this machine): %w", uri, errdefs.ErrInvalidArgument)
		}
		l, err := net.Listen("tcp", u.Host)
		if err != nil || tlsConfig == nil {
			return l, err
		}
		return tls.NewListener(l, tlsConfig), nil
	}
	return nil, fmt.Errorf("listen %q: unknown scheme %q (want unix:// or tcp://): %w", uri, u.Scheme, errdefs.ErrInvalidArgument)
}

// TLSConfig is docker's --tls flags: the server's certificate and key, and
// with verify the CA whose client certificates alone are accepted.
func TLSConfig(cert, key, ca string, verify bool) (*tls.Config, error) {
	if cert == "" || key == "" {
		return nil, fmt.Errorf("TLS needs --tlscert and --tlskey: %w", errdefs.ErrInvalidArgument)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tlscert %s --tlskey %s: %v: %w", cert, key, err, errdefs.ErrInvalidArgument)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if !verify {
		return cfg, nil
	}
	if ca == "" {
		return nil, fmt.Errorf("--tlsverify needs --tlscacert, the CA that signs the clients' certificates: %w", errdefs.ErrInvalidArgument)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("--tlscacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tlscacert %s: no PEM certificate in it: %w", ca, errdefs.ErrInvalidArgument)
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return cfg, nil
}

func listenUnix(path string) (net.Listener, error) {
	if path == "" {
		return nil, fmt.Errorf("listen unix://: no socket path: %w", errdefs.ErrInvalidArgument)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("listen %s: the path exists and is not a socket; remove it or choose another: %w", path, errdefs.ErrAlreadyExists)
		}
		// A socket someone answers on is another server's; one nobody
		// answers on was left by a server that died (kill -9) and is
		// replaced.
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another server is already serving on this socket: %w", path, errdefs.ErrAlreadyExists)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	gid := -1
	if g, err := user.LookupGroup("docker"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := errors.Join(os.Chown(path, 0, gid), os.Chmod(path, 0o660)); err != nil && os.Getuid() == 0 {
		l.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return l, nil
}

// SystemdListeners returns the sockets systemd passed to this process
// (socket activation: LISTEN_PID is ours, LISTEN_FDS counts descriptors
// from 3), or none. The environment is cleared so children do not take
// them for theirs.
func SystemdListeners() ([]net.Listener, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, nil
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	var ls []net.Listener
	for fd := 3; fd < 3+n; fd++ {
		f := os.NewFile(uintptr(fd), "systemd-socket")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("socket %d from systemd: %w", fd, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}
