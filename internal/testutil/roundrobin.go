package testutil

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// RoundRobin is a reverse proxy that sends every request to the next of its
// targets in turn: the load balancer in front of a registry's stateless
// replicas in tests, so that consecutive requests of one client (an
// upload's POST, PATCHes and PUT) land on different servers.
type RoundRobin struct {
	// Hits counts the requests sent to each target; Refused those whose
	// target did not answer (the proxy replied 502, as a load balancer
	// does, and the client may retry).
	Hits    []atomic.Int64
	Refused atomic.Int64

	targets []*url.URL
	next    atomic.Uint64
	proxy   *httputil.ReverseProxy
}

// NewRoundRobin returns a proxy over the targets (base URLs such as
// http://127.0.0.1:5000). The Host header is kept, so Location headers
// name the proxy.
func NewRoundRobin(targets ...string) *RoundRobin {
	rr := &RoundRobin{Hits: make([]atomic.Int64, len(targets))}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			panic("testutil.NewRoundRobin: " + err.Error())
		}
		rr.targets = append(rr.targets, u)
	}
	rr.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := int(rr.next.Add(1)-1) % len(rr.targets)
			rr.Hits[i].Add(1)
			pr.SetURL(rr.targets[i])
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			rr.Refused.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return rr
}

func (rr *RoundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) { rr.proxy.ServeHTTP(w, r) }

// Idle returns the index of the first target that served no request, or -1.
func (rr *RoundRobin) Idle() int {
	for i := range rr.Hits {
		if rr.Hits[i].Load() == 0 {
			return i
		}
	}
	return -1
}
