package api

import (
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
// when that group exists, as dockerd's socket) or tcp://HOST:PORT on a
// loopback address only (the API gives root on this machine to whoever
// reaches it, and Strata does not serve it over TLS yet).
func Listen(uri string) (net.Listener, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %v (want unix:///PATH or tcp://127.0.0.1:PORT): %w", uri, err, errdefs.ErrInvalidArgument)
	}
	switch u.Scheme {
	case "unix":
		return listenUnix(u.Path)
	case "tcp":
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %v (want tcp://127.0.0.1:PORT): %w", uri, err, errdefs.ErrInvalidArgument)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("listen %q: the Engine API is served over tcp on loopback addresses only (it gives root to whoever reaches it, and TLS is not supported yet): %w", uri, errdefs.ErrInvalidArgument)
		}
		return net.Listen("tcp", u.Host)
	}
	return nil, fmt.Errorf("listen %q: unknown scheme %q (want unix:// or tcp://): %w", uri, u.Scheme, errdefs.ErrInvalidArgument)
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
