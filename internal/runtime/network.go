package runtime

import (
	"fmt"
	"regexp"

	"github.com/strata-project/strata/internal/errdefs"
)

// NetworkMode is a container's (or a build RUN's) network: which network
// namespace its processes get. Besides the constants, any other value
// names a user-defined network (package network keeps them).
type NetworkMode string

const (
	// NetworkBridge is the default network (docker's "bridge"): a
	// namespace of the container's own with outbound through pasta
	// (package network). The zero value means it too.
	NetworkBridge NetworkMode = "bridge"
	// NetworkNone is a new network namespace holding only lo.
	NetworkNone NetworkMode = "none"
	// NetworkHost is the host's network namespace (no new one).
	NetworkHost NetworkMode = "host"
)

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ParseNetworkMode reads --network: bridge (or empty, or docker's
// "default"), none, host, or a user-defined network's name or ID (whether
// it exists is the network manager's to say).
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch m := NetworkMode(s); m {
	case "", "default", NetworkBridge:
		return NetworkBridge, nil
	case NetworkNone, NetworkHost:
		return m, nil
	}
	if !networkName.MatchString(s) {
		return "", fmt.Errorf("network %q: want bridge, none, host or a network's name (strata network ls): %w", s, errdefs.ErrInvalidArgument)
	}
	return NetworkMode(s), nil
}

// Host reports whether m shares the host's network namespace.
func (m NetworkMode) Host() bool { return m == NetworkHost }

// Networked reports whether m is a network (the default one or a
// user-defined one) rather than none or host.
func (m NetworkMode) Networked() bool { return m != NetworkNone && m != NetworkHost }

// String is the mode as docker names it ("bridge" for the zero value).
func (m NetworkMode) String() string {
	if m == "" {
		return string(NetworkBridge)
	}
	return string(m)
}
