package engine

import (
	"context"

	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/network"
)

// The network verbs for every front end, over the container store's
// network manager (package network), which records their events.

// Network is a network as network ls and inspect show it.
type Network = network.Network

// NetworkOptions are run and create's network flags beyond --network.
type NetworkOptions = container.NetworkOptions

// NetworkCreateOptions are network create's flags.
type NetworkCreateOptions = network.CreateOptions

// NetworkInspect is docker's network inspect shape.
type NetworkInspect = network.Inspect

func (e *Engine) networks() (*network.Manager, error) {
	s, err := e.Containers()
	if err != nil {
		return nil, err
	}
	if s.Networks() == nil {
		return nil, errdefs.ErrUnavailable
	}
	return s.Networks(), nil
}

// withNetworks runs fn on the engine's network manager.
func (e *Engine) withNetworks(fn func(m *network.Manager) error) error {
	m, err := e.networks()
	if err != nil {
		return err
	}
	return fn(m)
}

// CreateNetwork is network create.
func (e *Engine) CreateNetwork(ctx context.Context, o NetworkCreateOptions) (n *Network, err error) {
	err = e.withNetworks(func(m *network.Manager) error { n, err = m.Create(o); return err })
	return n, err
}

// ListNetworks is network ls: the default network, host and none, then
// the user-defined ones by name.
func (e *Engine) ListNetworks(ctx context.Context) (nets []*Network, err error) {
	err = e.withNetworks(func(m *network.Manager) error { nets, err = m.ListAll(); return err })
	return nets, err
}

// InspectNetwork is network inspect.
func (e *Engine) InspectNetwork(ctx context.Context, ref string) (n NetworkInspect, err error) {
	err = e.withNetworks(func(m *network.Manager) error { n, err = m.Inspect(ref); return err })
	return n, err
}

// RemoveNetwork is network rm of one network.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	return e.withNetworks(func(m *network.Manager) error { _, err := m.Remove(ref); return err })
}

// PruneNetworks is network prune: the names of the networks removed.
func (e *Engine) PruneNetworks(ctx context.Context) (names []string, err error) {
	err = e.withNetworks(func(m *network.Manager) error { names, err = m.Prune(); return err })
	return names, err
}

// ConnectNetwork is network connect.
func (e *Engine) ConnectNetwork(ctx context.Context, netRef, ctr string, aliases []string) error {
	return e.withNetworks(func(*network.Manager) error { return e.containers.Connect(ctx, ctr, netRef, aliases) })
}

// DisconnectNetwork is network disconnect.
func (e *Engine) DisconnectNetwork(ctx context.Context, netRef, ctr string) error {
	return e.withNetworks(func(*network.Manager) error { return e.containers.Disconnect(ctx, ctr, netRef) })
}
