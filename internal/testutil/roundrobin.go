package testutil

import (
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// RoundRobin is a reverse proxy that sends every request to the next of its
// targets in turn: the load balancer in front of a registry's stateless
// replicas in tests, so that consecutive requests of one client (an
// upload's POST, PATCHes and PUT) land on different servers.
//
// With one target it is a counting proxy in front of one registry: the
// blob writes a push makes (Uploads), the blob reads a pull resumes from
// an offset (Ranged), and a hold that stops blob bodies part way (Hold).
type RoundRobin struct {
	// Hits counts the requests sent to each target; Refused those whose
	// target did not answer (the proxy replied 502, as a load balancer
	// does, and the client may retry).
	Hits    []atomic.Int64
	Refused atomic.Int64
	// Uploads counts the PATCH and PUT requests of blob uploads: the
	// requests that carry a blob's bytes (a mount or a HEAD carries none).
	Uploads atomic.Int64
	// Ranged counts the blob GETs with a Range header.
	Ranged atomic.Int64

	holdMu   sync.Mutex
	holdAt   int64
	held     chan struct{}
	heldOnce *sync.Once
	released chan struct{}

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
		// Every write reaches the client at once: a body stopped by Hold
		// must have sent all it passed, not left its last bytes in the
		// server's write buffer (TestPullKilledResumes waited a minute
		// for the 2,372 bytes a held 1 MiB left there, 1 CI run in ~10).
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			if strings.Contains(pr.In.URL.Path, "/blobs/uploads/") && (pr.In.Method == http.MethodPatch || pr.In.Method == http.MethodPut) {
				rr.Uploads.Add(1)
			}
			if pr.In.Method == http.MethodGet && strings.Contains(pr.In.URL.Path, "/blobs/sha256:") && pr.In.Header.Get("Range") != "" {
				rr.Ranged.Add(1)
			}
			i := int(rr.next.Add(1)-1) % len(rr.targets)
			rr.Hits[i].Add(1)
			pr.SetURL(rr.targets[i])
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			rr.holdMu.Lock()
			defer rr.holdMu.Unlock()
			if rr.held != nil && resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") && resp.ContentLength > rr.holdAt {
				resp.Body = &holdBody{ReadCloser: resp.Body, left: rr.holdAt, held: rr.held, once: rr.heldOnce, released: rr.released}
			}
			return nil
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

// Hold makes the blob bodies longer than n bytes that the proxy sends from
// now on stop after n bytes until release is called; held is closed when
// the first one has stopped there. Release lets them go on; it is also
// called when the test ends.
func (rr *RoundRobin) Hold(t testing.TB, n int64) (held <-chan struct{}, release func()) {
	rr.holdMu.Lock()
	defer rr.holdMu.Unlock()
	rr.holdAt, rr.held, rr.heldOnce, rr.released = n, make(chan struct{}), &sync.Once{}, make(chan struct{})
	var once sync.Once
	rel := rr.released
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	return rr.held, release
}

// holdBody passes left bytes, then signals held (once for all bodies) and
// waits for released before passing the rest.
type holdBody struct {
	io.ReadCloser
	left     int64
	held     chan struct{}
	once     *sync.Once
	released chan struct{}
}

func (h *holdBody) Read(p []byte) (int, error) {
	if h.left == 0 {
		h.once.Do(func() { close(h.held) })
		<-h.released
		h.left = -1
	}
	if h.left > 0 && int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.ReadCloser.Read(p)
	if h.left > 0 {
		h.left -= int64(n)
	}
	return n, err
}
