package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/errdefs"
)

// The API versions served: Debian's docker 20.10 client speaks 1.41, the
// docker 28 CLI 1.50.
const (
	MinVersion = engine.MinAPIVersion
	MaxVersion = engine.APIVersion
)

// Options configure a Server.
type Options struct {
	// Version is Strata's own version, reported by /version and /info.
	Version string
}

// Server is an http.Handler for the Engine API over one engine. It is safe
// for concurrent requests.
type Server struct {
	eng  *engine.Engine
	opts Options

	runs  *runs  // docker run's attach, start and wait in flight
	execs *execs // exec instances created and not yet forgotten

	mu     sync.Mutex
	active int       // requests being served
	idle   time.Time // when active last fell to 0
}

// New returns a server over e.
func New(e *engine.Engine, opts Options) *Server {
	if opts.Version == "" {
		opts.Version = engine.Version().Version
	}
	return &Server{eng: e, opts: opts, idle: time.Now(), runs: newRuns(), execs: &execs{m: map[string]*execInstance{}}}
}

// IdleSince reports when the server last finished a request with none
// other running, or the zero time while requests are being served.
func (s *Server) IdleSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active > 0 {
		return time.Time{}
	}
	return s.idle
}

func (s *Server) begin() {
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
}

func (s *Server) end() {
	s.mu.Lock()
	s.active--
	if s.active == 0 {
		s.idle = time.Now()
	}
	s.mu.Unlock()
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// ServeHTTP strips and checks the version prefix, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.begin()
	defer s.end()
	w.Header().Set("Server", "Strata/"+s.opts.Version+" (linux)")
	w.Header().Set("Api-Version", MaxVersion)
	w.Header().Set("Ostype", "linux")
	path := r.URL.Path
	version := MaxVersion
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		version, path = m[1], m[2]
		if compareVersions(version, MinVersion) < 0 {
			writeError(w, fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version: %w", version, MinVersion, errdefs.ErrInvalidArgument))
			return
		}
		if compareVersions(version, MaxVersion) > 0 {
			writeError(w, fmt.Errorf("client version %s is too new. Maximum supported API version is %s: %w", version, MaxVersion, errdefs.ErrInvalidArgument))
			return
		}
	}
	h := s.route(r.Method, path)
	if err := h(w, r); err != nil {
		writeError(w, err)
	}
}

// handler serves one request; an error it returns before writing anything
// becomes docker's error JSON.
type handler func(w http.ResponseWriter, r *http.Request) error

// route finds the handler for method and the unversioned path. Image names
// hold slashes (localhost:5000/team/app), so /images/{name}/... routes are
// matched by their last segment, as dockerd's router does.
func (s *Server) route(method, path string) handler {
	type key struct{ method, path string }
	fixed := map[key]handler{
		{"GET", "/_ping"}:              s.ping,
		{"HEAD", "/_ping"}:             s.ping,
		{"GET", "/version"}:            s.version,
		{"GET", "/info"}:               s.info,
		{"GET", "/events"}:             s.events,
		{"POST", "/auth"}:              s.auth,
		{"GET", "/images/json"}:        s.listImages,
		{"POST", "/images/create"}:     s.createImage,
		{"POST", "/images/load"}:       s.loadImages,
		{"GET", "/images/get"}:         s.saveImages,
		{"GET", "/images/search"}:      s.searchImages,
		{"POST", "/images/prune"}:      s.pruneImages,
		{"POST", "/build"}:             s.build,
		{"GET", "/networks"}:           s.listNetworks,
		{"GET", "/volumes"}:            s.listVolumes,
		{"POST", "/volumes/create"}:    s.createVolume,
		{"POST", "/volumes/prune"}:     s.pruneVolumes,
		{"POST", "/networks/create"}:   s.createNetwork,
		{"POST", "/networks/prune"}:    s.pruneNetworks,
		{"GET", "/containers/json"}:    s.listContainers,
		{"POST", "/containers/create"}: s.createContainer,
		{"POST", "/containers/prune"}:  s.pruneContainers,
		{"POST", "/commit"}:            s.commit,
		{"GET", "/system/df"}:          s.diskUsage,
	}
	if h, ok := fixed[key{method, path}]; ok {
		return h
	}
	if name, ok := strings.CutPrefix(path, "/images/"); ok && name != "" {
		switch {
		case method == "DELETE":
			return withName(name, s.removeImage)
		case method == "GET" && strings.HasSuffix(name, "/json"):
			return withName(strings.TrimSuffix(name, "/json"), s.inspectImage)
		case method == "GET" && strings.HasSuffix(name, "/history"):
			return withName(strings.TrimSuffix(name, "/history"), s.imageHistory)
		case method == "GET" && strings.HasSuffix(name, "/get"):
			return withName(strings.TrimSuffix(name, "/get"), s.saveImage)
		case method == "POST" && strings.HasSuffix(name, "/tag"):
			return withName(strings.TrimSuffix(name, "/tag"), s.tagImage)
		case method == "POST" && strings.HasSuffix(name, "/push"):
			return withName(strings.TrimSuffix(name, "/push"), s.pushImage)
		}
	}
	if h := s.containerRoute(method, path); h != nil {
		return h
	}
	if h := s.execRoute(method, path); h != nil {
		return h
	}
	if h := s.networkRoute(method, path); h != nil {
		return h
	}
	if h := s.volumeRoute(method, path); h != nil {
		return h
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch first {
	case "swarm", "nodes", "services", "tasks", "secrets", "configs":
		return failWith(fmt.Errorf("this node is not a swarm manager: Strata has no swarm mode: %w", errdefs.ErrUnavailable))
	case "plugins", "distribution":
		return failWith(fmt.Errorf("%s: Strata has no plugins and no distribution endpoint: %w", path, errdefs.ErrNotFound))
	}
	return failWith(fmt.Errorf("%s %s is not served by Strata's Engine API yet: %w", method, path, errdefs.ErrNotImplemented))
}

func withName(name string, h func(w http.ResponseWriter, r *http.Request, name string) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error { return h(w, r, name) }
}

func failWith(err error) handler {
	return func(http.ResponseWriter, *http.Request) error { return err }
}

// statusOf maps an error kind to docker's HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errdefs.ErrDenied):
		return http.StatusForbidden
	case errors.Is(err, errdefs.ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError writes docker's error body: {"message": "..."}.
func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(statusOf(err))
	json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{errdefs.Message(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// requestVersion is the API version r's path names (MaxVersion when none).
func requestVersion(r *http.Request) string {
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		return m[1]
	}
	return MaxVersion
}

// compareVersions compares "major.minor" API versions.
func compareVersions(a, b string) int {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	switch {
	case am != bm:
		return am - bm
	default:
		return an - bn
	}
}

func splitVersion(v string) (int, int) {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a, b
}

// boolParam reads a query flag as dockerd does: "", "0", "false" and
// "no" are false, anything else true.
func boolParam(r *http.Request, name string) bool {
	switch strings.ToLower(r.URL.Query().Get(name)) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// containerRoute routes /containers/{id}/{verb}; container IDs and names
// hold no slash.
func (s *Server) containerRoute(method, path string) handler {
	rest, ok := strings.CutPrefix(path, "/containers/")
	if !ok {
		return nil
	}
	name, verb, _ := strings.Cut(rest, "/")
	if name == "" {
		return nil
	}
	type key struct{ method, verb string }
	h, ok := map[key]func(http.ResponseWriter, *http.Request, string) error{
		{"GET", "json"}:     s.inspectContainer,
		{"POST", "start"}:   s.startContainer,
		{"POST", "stop"}:    s.stopContainer,
		{"POST", "restart"}: s.restartContainer,
		{"POST", "kill"}:    s.killContainer,
		{"POST", "pause"}:   s.pauseContainer,
		{"POST", "unpause"}: s.unpauseContainer,
		{"POST", "update"}:  s.updateContainer,
		{"POST", "wait"}:    s.waitContainer,
		{"POST", "attach"}:  s.attachContainer,
		{"GET", "logs"}:     s.containerLogs,
		{"GET", "stats"}:    s.containerStats,
		{"DELETE", ""}:      s.removeContainer,
		{"POST", "exec"}:    s.createExec,
		{"GET", "archive"}:  s.getArchive,
		{"HEAD", "archive"}: s.getArchive,
		{"PUT", "archive"}:  s.putArchive,
		{"GET", "top"}:      s.topContainer,
		{"POST", "rename"}:  s.renameContainer,
		{"POST", "resize"}:  s.resizeContainer,
		{"GET", "export"}:   s.exportContainer,
		{"GET", "changes"}:  s.containerChanges,
	}[key{method, verb}]
	if !ok {
		return nil
	}
	return withName(name, h)
}
