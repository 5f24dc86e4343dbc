package network

import (
	"fmt"

	"github.com/strata-project/strata/internal/errdefs"
)

// Connect adds network r to the attached sandbox id (network connect on
// a running container): one more interface, eth1 and on.
func (m *Manager) Connect(id string, r Request) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var sb Sandbox
	if err := readJSON(m.sandboxPath(id), &sb); err != nil {
		return err
	}
	nets, err := m.list()
	if err != nil {
		return err
	}
	n, err := find(nets, r.Network)
	if err != nil {
		return err
	}
	for _, e := range sb.Endpoints {
		if e.NetworkID == n.ID {
			return fmt.Errorf("container %s is already connected to network %s: %w", sb.Name, n.Name, errdefs.ErrConflict)
		}
	}
	i := 0
	for taken := true; taken; i++ {
		taken = false
		for _, e := range sb.Endpoints {
			taken = taken || e.IfName == fmt.Sprintf("eth%d", i)
		}
		if !taken {
			break
		}
	}
	sb.Endpoints = append(sb.Endpoints, Endpoint{
		NetworkID: n.ID, Network: n.Name, Aliases: r.Aliases, MAC: r.MAC,
		IfName: fmt.Sprintf("eth%d", i), HostVeth: vethName(id, i), HostGateway: sb.Files.wantsHostGateway(),
	})
	e := &sb.Endpoints[len(sb.Endpoints)-1]
	if err := m.join(n, &sb, e); err != nil {
		m.dropEndpoint(e)
		return fmt.Errorf("connect %s to network %s: %w", sb.Name, n.Name, err)
	}
	if err := writeJSON(m.sandboxPath(id), &sb); err != nil {
		return err
	}
	return m.refreshFiles(id, sb.Endpoints)
}

// Disconnect removes network ref from the attached sandbox id.
func (m *Manager) Disconnect(id, ref string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var sb Sandbox
	if err := readJSON(m.sandboxPath(id), &sb); err != nil {
		return err
	}
	nets, err := m.list()
	if err != nil {
		return err
	}
	n, err := find(nets, ref)
	if err != nil {
		return err
	}
	for i, e := range sb.Endpoints {
		if e.NetworkID != n.ID {
			continue
		}
		m.dropEndpoint(&e)
		sb.Endpoints = append(sb.Endpoints[:i], sb.Endpoints[i+1:]...)
		if err := writeJSON(m.sandboxPath(id), &sb); err != nil {
			return err
		}
		err := m.refreshFiles(id, append(sb.Endpoints, e))
		if len(m.users(n.ID)) == 0 {
			m.down(n)
		}
		return err
	}
	return fmt.Errorf("container %s is not connected to network %s: %w", sb.Name, n.Name, errdefs.ErrNotFound)
}
