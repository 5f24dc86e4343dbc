package network

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/events"
)

// Docker's shapes of networks, as network ls and inspect show them:
// beside the recorded networks, docker's host and none pseudo-networks,
// which have no record and cannot be removed.

// Predefined is the host or none pseudo-network, as docker lists it.
func Predefined(name string) *Network {
	id := "host000000000000000000000000000000000000000000000000000000000000"
	if name == "none" {
		id = "none000000000000000000000000000000000000000000000000000000000000"
	}
	return &Network{ID: id, Name: name, Driver: map[string]string{"host": "host", "none": "null"}[name], Created: time.Time{}}
}

// PredefinedError is the refusal to remove a pseudo-network.
func PredefinedError(name string) error {
	return fmt.Errorf("%s is a predefined network and cannot be removed: %w", name, errdefs.ErrDenied)
}

// EndpointID is a stable ID for a container's endpoint on a network.
func EndpointID(ctr, net string) string {
	h := sha256.Sum256([]byte(ctr + "/" + net))
	return hex.EncodeToString(h[:])
}

// ListAll is network ls: the default network, host and none, then the
// user-defined ones by name.
func (m *Manager) ListAll() ([]*Network, error) {
	nets, err := m.List() // the default first, then by name
	if err != nil {
		return nil, err
	}
	out := []*Network{}
	var rest []*Network
	for _, n := range nets {
		if n.Name == Default {
			out = append(out, n)
		} else {
			rest = append(rest, n)
		}
	}
	out = append(out, Predefined("host"), Predefined("none"))
	return append(out, rest...), nil
}

// Container is a container attached to a network, in docker's network
// inspect shape.
type Container struct {
	Name        string `json:"Name"`
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
	IPv6Address string `json:"IPv6Address"`
}

// Inspect is docker's network inspect shape.
type Inspect struct {
	Name       string               `json:"Name"`
	ID         string               `json:"Id"`
	Created    time.Time            `json:"Created"`
	Scope      string               `json:"Scope"`
	Driver     string               `json:"Driver"`
	EnableIPv6 bool                 `json:"EnableIPv6"`
	IPAM       IPAM                 `json:"IPAM"`
	Internal   bool                 `json:"Internal"`
	Attachable bool                 `json:"Attachable"`
	Containers map[string]Container `json:"Containers"`
	Options    map[string]string    `json:"Options"`
	Labels     map[string]string    `json:"Labels"`
}

// IPAM is network inspect's IPAM.
type IPAM struct {
	Driver string              `json:"Driver"`
	Config []map[string]string `json:"Config"`
}

// Inspect is network inspect of ref (a name, an ID or its prefix, host
// or none), with the containers attached to it now.
func (m *Manager) Inspect(ref string) (Inspect, error) {
	var n *Network
	if ref == "host" || ref == "none" {
		n = Predefined(ref)
	} else if g, err := m.Get(ref); err != nil {
		return Inspect{}, err
	} else {
		n = g
	}
	out := Inspect{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, Internal: n.Internal,
		IPAM:       IPAM{Driver: "default", Config: []map[string]string{}},
		Containers: map[string]Container{}, Options: map[string]string{}, Labels: map[string]string{},
		Attachable: n.UserDefined(),
	}
	if n.Subnet != "" {
		out.IPAM.Config = append(out.IPAM.Config, map[string]string{"Subnet": n.Subnet, "Gateway": n.Gateway})
	}
	for _, sb := range m.Attached(n.ID) {
		for _, ep := range sb.Endpoints {
			if ep.NetworkID == n.ID {
				out.Containers[sb.ID] = Container{Name: sb.Name, EndpointID: EndpointID(sb.ID, n.ID), MacAddress: ep.MAC,
					IPv4Address: ep.IP + "/" + strconv.Itoa(ep.PrefixLen)}
			}
		}
	}
	return out, nil
}

// Event records a network event with docker's attributes; ctr, if not
// "", is the container a connect or disconnect concerns.
func (m *Manager) Event(action events.Action, n *Network, ctr string) {
	if m.ev == nil {
		return
	}
	attrs := map[string]string{"name": n.Name, "type": "bridge"}
	if ctr != "" {
		attrs["container"] = ctr
	}
	m.ev.Log(events.NetworkType, action, n.ID, attrs)
}
