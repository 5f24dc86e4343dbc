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

// CreateNetwork is network create.
func (e *Engine) CreateNetwork(ctx context.Context, o NetworkCreateOptions) (*Network, error) {
	return call(e.networks, func(m *network.Manager) (*Network, error) { return m.Create(o) })
}

// ListNetworks is network ls: the default network, host and none, then
// the user-defined ones by name.
func (e *Engine) ListNetworks(ctx context.Context) ([]*Network, error) {
	return call(e.networks, (*network.Manager).ListAll)
}

// InspectNetwork is network inspect.
func (e *Engine) InspectNetwork(ctx context.Context, ref string) (NetworkInspect, error) {
	return call(e.networks, func(m *network.Manager) (NetworkInspect, error) { return m.Inspect(ref) })
}

// RemoveNetwork is network rm of one network.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	_, err := call(e.networks, func(m *network.Manager) (*Network, error) { return m.Remove(ref) })
	return err
}

// PruneNetworks is network prune: the names of the networks removed.
func (e *Engine) PruneNetworks(ctx context.Context) ([]string, error) {
	return call(e.networks, (*network.Manager).Prune)
}

// ConnectNetwork is network connect.
func (e *Engine) ConnectNetwork(ctx context.Context, netRef, ctr string, aliases []string) error {
	return e.withStore(func(s *container.Store) error { return s.Connect(ctx, ctr, netRef, aliases) })
}

// DisconnectNetwork is network disconnect.
func (e *Engine) DisconnectNetwork(ctx context.Context, netRef, ctr string) error {
	return e.withStore(func(s *container.Store) error { return s.Disconnect(ctx, ctr, netRef) })
}
