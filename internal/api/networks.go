package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

func noSuchNetwork(name string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
	}
	return err
}

// GET /networks?filters=: each network as network inspect shows it, with
// docker's filters name (a substring), id (a prefix), driver and label.
func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	f, err := filters(r)
	if err != nil {
		return err
	}
	for k := range f {
		switch k {
		case "name", "id", "driver", "label":
		default:
			return fmt.Errorf("invalid filter '%s' (Strata filters networks by name, id, driver and label): %w", k, errdefs.ErrInvalidArgument)
		}
	}
	nets, err := s.eng.ListNetworks(r.Context())
	if err != nil {
		return err
	}
	out := []engine.NetworkInspect{}
	for _, n := range nets {
		insp, err := s.eng.InspectNetwork(r.Context(), n.ID)
		if err != nil {
			continue // removed meanwhile
		}
		if matchNetwork(f, &insp) {
			out = append(out, insp)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchNetwork: each filter key holds if any of its values does; every
// label given must hold.
func matchNetwork(f map[string][]string, n *engine.NetworkInspect) bool {
	anyOf := func(key string, ok func(v string) bool) bool {
		if len(f[key]) == 0 {
			return true
		}
		for _, v := range f[key] {
			if ok(v) {
				return true
			}
		}
		return false
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := n.Labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return anyOf("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyOf("driver", func(v string) bool { return n.Driver == v })
}

func (s *Server) inspectNetwork(w http.ResponseWriter, r *http.Request, name string) error {
	insp, err := s.eng.InspectNetwork(r.Context(), name)
	if err != nil {
		return noSuchNetwork(name, err)
	}
	return writeJSON(w, http.StatusOK, insp)
}

// POST /networks/create: bridge networks with one IPv4 subnet.
func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if req.Driver != "" && req.Driver != "bridge" {
		return fmt.Errorf("network driver %q is not supported (Strata has bridge networks): %w", req.Driver, errdefs.ErrInvalidArgument)
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return fmt.Errorf("EnableIPv6 is not supported by Strata's networks: %w", errdefs.ErrInvalidArgument)
	}
	opts := engine.NetworkCreateOptions{Name: req.Name, Internal: req.Internal}
	if req.IPAM != nil {
		if len(req.IPAM.Config) > 1 {
			return fmt.Errorf("IPAM: one subnet per network: %w", errdefs.ErrInvalidArgument)
		}
		if len(req.IPAM.Config) == 1 {
			opts.Subnet = req.IPAM.Config[0].Subnet.String()
			if !req.IPAM.Config[0].Subnet.IsValid() {
				opts.Subnet = ""
			}
		}
	}
	n, err := s.eng.CreateNetwork(r.Context(), opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID})
}

func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request, name string) error {
	if err := s.eng.RemoveNetwork(r.Context(), name); err != nil {
		return noSuchNetwork(name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pruneNetworks(w http.ResponseWriter, r *http.Request) error {
	names, err := s.eng.PruneNetworks(r.Context())
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: names})
}

func (s *Server) connectNetwork(w http.ResponseWriter, r *http.Request, name string) error {
	var req network.ConnectRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var aliases []string
	if req.EndpointConfig != nil {
		aliases = req.EndpointConfig.Aliases
	}
	if err := s.eng.ConnectNetwork(r.Context(), name, req.Container, aliases); err != nil {
		return noSuchNetwork(name, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) disconnectNetwork(w http.ResponseWriter, r *http.Request, name string) error {
	var req network.DisconnectRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("malformed JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := s.eng.DisconnectNetwork(r.Context(), name, req.Container); err != nil {
		return noSuchNetwork(name, err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// networkRoute routes /networks/{id}[/verb].
func (s *Server) networkRoute(method, path string) handler {
	rest, ok := strings.CutPrefix(path, "/networks/")
	if !ok || rest == "" || rest == "create" || rest == "prune" {
		return nil
	}
	name, verb, _ := strings.Cut(rest, "/")
	switch {
	case method == "GET" && verb == "":
		return withName(name, s.inspectNetwork)
	case method == "DELETE" && verb == "":
		return withName(name, s.removeNetwork)
	case method == "POST" && verb == "connect":
		return withName(name, s.connectNetwork)
	case method == "POST" && verb == "disconnect":
		return withName(name, s.disconnectNetwork)
	}
	return nil
}
