package runtime

import (
	"fmt"

	"github.com/strata-project/strata/internal/errdefs"
)

// NetworkMode is a container's (or a build RUN's) network: which network
// namespace its processes get.
type NetworkMode string

const (
	// NetworkNone is a new network namespace holding only lo (docker's
	// --network none, Strata's default). The zero value means it too.
	NetworkNone NetworkMode = "none"
	// NetworkHost is the host's network namespace (no new one).
	NetworkHost NetworkMode = "host"
)

// ParseNetworkMode reads --network: none (or empty) or host.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch m := NetworkMode(s); m {
	case "", NetworkNone:
		return NetworkNone, nil
	case NetworkHost:
		return m, nil
	}
	return "", fmt.Errorf("network %q: want none or host (there is no bridge): %w", s, errdefs.ErrInvalidArgument)
}

// Host reports whether m shares the host's network namespace.
func (m NetworkMode) Host() bool { return m == NetworkHost }

// String is the mode as docker names it ("none" for the zero value).
func (m NetworkMode) String() string {
	if m == "" {
		return string(NetworkNone)
	}
	return string(m)
}
