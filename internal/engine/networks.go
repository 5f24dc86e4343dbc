package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/strata-project/strata/internal/container"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/network"
)

// Network is a network as network ls and inspect show it.
type Network = network.Network

// NetworkOptions are run and create's network flags beyond --network.
type NetworkOptions = container.NetworkOptions

// NetworkCreateOptions are network create's flags.
type NetworkCreateOptions = network.CreateOptions

func (e *Engine) networks() (*network.Manager, *container.Store, error) {
	s, err := e.Containers()
	if err != nil {
		return nil, nil, err
	}
	if s.Networks() == nil {
		return nil, nil, errdefs.ErrUnavailable
	}
	return s.Networks(), s, nil
}

// CreateNetwork is network create.
func (e *Engine) CreateNetwork(ctx context.Context, o NetworkCreateOptions) (*Network, error) {
	m, _, err := e.networks()
	if err != nil {
		return nil, err
	}
	n, err := m.Create(o)
	if err == nil {
		e.networkEvent("create", n.ID, n.Name, nil)
	}
	return n, err
}

// ListNetworks is network ls: the default network, host and none, then
// the user-defined ones by name.
func (e *Engine) ListNetworks(ctx context.Context) ([]*Network, error) {
	m, _, err := e.networks()
	if err != nil {
		return nil, err
	}
	nets, err := m.List()
	if err != nil {
		return nil, err
	}
	out := []*Network{}
	var rest []*Network
	for _, n := range nets {
		if n.Name == network.Default {
			out = append(out, n)
		} else {
			rest = append(rest, n)
		}
	}
	out = append(out, predefined("host"), predefined("none"))
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	return append(out, rest...), nil
}

// predefined is the host and none pseudo-networks, as docker lists them.
func predefined(name string) *Network {
	id := "host000000000000000000000000000000000000000000000000000000000000"
	if name == "none" {
		id = "none000000000000000000000000000000000000000000000000000000000000"
	}
	return &Network{ID: id, Name: name, Driver: map[string]string{"host": "host", "none": "null"}[name], Created: time.Time{}}
}

// NetworkContainer is a container attached to a network, in docker's
// network inspect shape.
type NetworkContainer struct {
	Name        string `json:"Name"`
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
	IPv6Address string `json:"IPv6Address"`
}

// NetworkInspect is docker's network inspect shape.
type NetworkInspect struct {
	Name       string                      `json:"Name"`
	ID         string                      `json:"Id"`
	Created    time.Time                   `json:"Created"`
	Scope      string                      `json:"Scope"`
	Driver     string                      `json:"Driver"`
	EnableIPv6 bool                        `json:"EnableIPv6"`
	IPAM       NetworkIPAM                 `json:"IPAM"`
	Internal   bool                        `json:"Internal"`
	Attachable bool                        `json:"Attachable"`
	Containers map[string]NetworkContainer `json:"Containers"`
	Options    map[string]string           `json:"Options"`
	Labels     map[string]string           `json:"Labels"`
}

// NetworkIPAM is network inspect's IPAM.
type NetworkIPAM struct {
	Driver string              `json:"Driver"`
	Config []map[string]string `json:"Config"`
}

// InspectNetwork is network inspect.
func (e *Engine) InspectNetwork(ctx context.Context, ref string) (NetworkInspect, error) {
	m, _, err := e.networks()
	if err != nil {
		return NetworkInspect{}, err
	}
	var n *Network
	if ref == "host" || ref == "none" {
		n = predefined(ref)
	} else if n, err = m.Get(ref); err != nil {
		return NetworkInspect{}, err
	}
	out := NetworkInspect{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, Internal: n.Internal,
		IPAM:       NetworkIPAM{Driver: "default", Config: []map[string]string{}},
		Containers: map[string]NetworkContainer{}, Options: map[string]string{}, Labels: map[string]string{},
		Attachable: n.UserDefined(),
	}
	if n.Subnet != "" {
		out.IPAM.Config = append(out.IPAM.Config, map[string]string{"Subnet": n.Subnet, "Gateway": n.Gateway})
	}
	for _, sb := range m.Attached(n.ID) {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID == n.ID {
				out.Containers[sb.ID] = NetworkContainer{Name: sb.Name, EndpointID: endpointID(sb.ID, n.ID), MacAddress: ep.MAC,
					IPv4Address: ep.IP + "/" + itoa(ep.PrefixLen)}
			}
		}
	}
	return out, nil
}

// RemoveNetwork is network rm of one network.
func (e *Engine) RemoveNetwork(ctx context.Context, ref string) error {
	m, _, err := e.networks()
	if err != nil {
		return err
	}
	if ref == "host" || ref == "none" {
		return predefinedErr(ref)
	}
	n, err := m.Remove(ref)
	if err == nil {
		e.networkEvent("destroy", n.ID, n.Name, nil)
	}
	return err
}

// PruneNetworks is network prune: the names of the networks removed.
func (e *Engine) PruneNetworks(ctx context.Context) ([]string, error) {
	m, _, err := e.networks()
	if err != nil {
		return nil, err
	}
	return m.Prune()
}

// ConnectNetwork is network connect.
func (e *Engine) ConnectNetwork(ctx context.Context, netRef, ctr string, aliases []string) error {
	_, s, err := e.networks()
	if err != nil {
		return err
	}
	if err := s.Connect(ctx, ctr, netRef, aliases); err != nil {
		return err
	}
	e.connectEvent(ctx, "connect", netRef, ctr)
	return nil
}

// DisconnectNetwork is network disconnect.
func (e *Engine) DisconnectNetwork(ctx context.Context, netRef, ctr string) error {
	_, s, err := e.networks()
	if err != nil {
		return err
	}
	if err := s.Disconnect(ctx, ctr, netRef); err != nil {
		return err
	}
	e.connectEvent(ctx, "disconnect", netRef, ctr)
	return nil
}

func predefinedErr(name string) error {
	return fmt.Errorf("%s is a predefined network and cannot be removed: %w", name, errdefs.ErrDenied)
}

// endpointID is a stable ID for a container's endpoint on a network.
func endpointID(ctr, net string) string {
	h := sha256.Sum256([]byte(ctr + "/" + net))
	return hex.EncodeToString(h[:])
}

func itoa(i int) string { return strconv.Itoa(i) }

// EndpointSettings is one network of inspect's NetworkSettings.Networks.
type EndpointSettings struct {
	IPAMConfig  any      `json:"IPAMConfig"`
	Links       []string `json:"Links"`
	Aliases     []string `json:"Aliases"`
	MacAddress  string   `json:"MacAddress"`
	NetworkID   string   `json:"NetworkID"`
	EndpointID  string   `json:"EndpointID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	DNSNames    []string `json:"DNSNames"`
}

// netSettings fills inspect's NetworkSettings from the container's
// networks and, while it is attached, its sandbox: addresses, gateway,
// MAC, aliases, as docker shows them (the top-level address fields only
// for the default network).
func (e *Engine) netSettings(c *container.Container, ports map[string][]PortBinding) ContainerNetSettings {
	ns := ContainerNetSettings{Ports: ports, Networks: map[string]EndpointSettings{}}
	m, _, err := e.networks()
	if err != nil {
		return ns
	}
	var sb *network.Sandbox
	if st, err := e.containers.Status(context.Background(), c.ID); err == nil && st.Running {
		sb, _ = m.Sandbox(c.ID)
	}
	if sb != nil {
		ns.SandboxID, ns.SandboxKey = endpointID(c.ID, "sandbox"), sb.Netns
	}
	for _, r := range container.NetworkRequests(c) {
		name := r.Network
		if name == "" || name == "default" {
			name = network.Default
		}
		es := EndpointSettings{Aliases: r.Aliases, MacAddress: r.MAC}
		if name == "host" || name == "none" {
			es.NetworkID = predefined(name).ID
			ns.Networks[name] = es
			continue
		}
		n, err := m.Get(name)
		if err != nil {
			continue
		}
		es.NetworkID = n.ID
		if n.UserDefined() {
			es.DNSNames = append([]string{c.Name}, r.Aliases...)
			es.DNSNames = append(es.DNSNames, container.ShortID(c.ID))
		}
		if sb != nil {
			for _, ep := range sb.Endpoints {
				if ep.NetworkID == n.ID {
					es.EndpointID = endpointID(c.ID, n.ID)
					es.Gateway, es.IPAddress, es.IPPrefixLen, es.MacAddress = ep.Gateway, ep.IP, ep.PrefixLen, ep.MAC
				}
			}
		}
		if !n.UserDefined() {
			ns.Gateway, ns.IPAddress, ns.IPPrefixLen, ns.MacAddress = es.Gateway, es.IPAddress, es.IPPrefixLen, es.MacAddress
		}
		ns.Networks[n.Name] = es
	}
	return ns
}
