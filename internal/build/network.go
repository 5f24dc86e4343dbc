package build

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/network"
)

// Networks gives RUN steps on the default network a namespace with
// outbound (package network's Manager).
type Networks interface {
	Attach(o network.AttachOptions) (*network.Sandbox, error)
	Detach(id string) error
}

// runNetwork is a RUN's network mode: --network of the build, or the
// step's own RUN --network (Dockerfile 1.3), "default" meaning the build's.
func runNetwork(build, step string) (string, error) {
	n := build
	if step != "" && step != "default" {
		n = step
	}
	switch n {
	case "", "default":
		return "default", nil
	case "none", "host":
		return n, nil
	}
	return "", fmt.Errorf("network %q: want default, none or host: %w", n, errdefs.ErrInvalidArgument)
}

// netErrorHints are what a command prints when the network it wanted is
// not there (curl, wget, apt, getent, Go, Python, Node …).
var netErrorHints = []string{
	"network is unreachable", "temporary failure in name resolution", "temporary failure resolving", "could not resolve",
	"name or service not known", "no route to host", "connection refused", "bad address",
	"unable to resolve", "failed to fetch", "could not connect", "connection timed out",
	"no address associated", "eai_again", "enotfound", "getaddrinfo",
}

// networkHint says which network a failed RUN had when its output looks
// like a network error, and how to pick another; "" otherwise.
func networkHint(mode string, tail []string) string {
	out := strings.ToLower(strings.Join(tail, "\n"))
	for _, h := range netErrorHints {
		if strings.Contains(out, h) {
			switch mode {
			case "none":
				return "the RUN had network none (no network): use --network default, or RUN --network=default"
			default:
				return fmt.Sprintf("the RUN had network %s", mode)
			}
		}
	}
	return ""
}

// netAttach is a RUN container's sandbox on the default network, owned by
// this process: a kill -9 of the build leaves it to the next sweep.
func netAttach(id string) network.AttachOptions {
	return network.AttachOptions{ID: id, Pid: os.Getpid(), Networks: []network.Request{{Network: network.Default}}}
}

// netKeeper holds the default network up for the rest of a build once a
// RUN needed it: a sandbox of its own (owned by this process, like the
// RUNs') keeps the network's namespace and pasta from going when a RUN's
// sandbox does, so only the first RUN waits for pasta to start (a few
// hundred ms on a busy machine) and the others only for a namespace and
// a veth. Build releases it at the end; a kill -9 leaves it to the sweep.
type netKeeper struct {
	once sync.Once
	id   string
}

// hold attaches the keeper's sandbox the first time it is called; a
// failure is left for the RUN's own attach to report.
func (k *netKeeper) hold(n Networks) {
	k.once.Do(func() {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		id := "strata-build-keep-" + hex.EncodeToString(rnd[:])
		if _, err := n.Attach(netAttach(id)); err == nil {
			k.id = id
		}
	})
}

// release detaches the keeper's sandbox, if hold made one.
func (k *netKeeper) release(n Networks) {
	k.once.Do(func() {}) // no hold after this
	if k.id != "" && n != nil {
		_ = n.Detach(k.id)
	}
}
