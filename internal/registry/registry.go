package registry

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry/backend"
	"github.com/strata-project/strata/internal/registry/htpasswd"
)

// Options configure a registry. The zero value serves anonymously over
// plain HTTP on 127.0.0.1:5000 with the defaults noted below.
type Options struct {
	// Root is where the registry keeps its data when a config file names
	// it; New and Serve take root as an argument and ignore this field.
	Root string `yaml:"root"`
	// Addr is the listen address of Serve (default 127.0.0.1:5000).
	Addr string `yaml:"addr"`
	// Realm is the Basic auth realm (default "strata").
	Realm string `yaml:"realm"`
	// HtpasswdPath, when set, requires Basic auth checked against this
	// htpasswd file of bcrypt hashes (htpasswd -B); it is re-read when it
	// changes.
	HtpasswdPath string `yaml:"htpasswd"`
	// TLSCert and TLSKey make Serve speak HTTPS.
	TLSCert string `yaml:"tls-cert"`
	TLSKey  string `yaml:"tls-key"`
	// ReadOnly refuses every client write with 405 UNSUPPORTED. The admin
	// GC endpoint still works: read-only is how one collects with other
	// registries, and here it is not needed for that.
	ReadOnly bool `yaml:"read-only"`
	// AccessLog receives one line per request when not nil; without it
	// only 5xx failures are logged (to the standard logger).
	AccessLog io.Writer `yaml:"-"`
	// GCGrace is how old unreferenced content must be before GC removes
	// it (default 1h): uploads and manifest puts in the window are safe.
	GCGrace time.Duration `yaml:"gc-grace"`
	// GCInterval, when positive, makes Serve run GC on this schedule.
	GCInterval time.Duration `yaml:"gc-interval"`
	// UploadExpiry is how long an untouched upload session lives (default
	// 24h).
	UploadExpiry time.Duration `yaml:"upload-expiry"`
	// AccessPolicy is who may do what: deletes, admins, access rules,
	// token auth (policy.go).
	AccessPolicy `yaml:",inline"`
	// Storage, when it names S3, keeps blobs there instead of the local
	// content store.
	Storage StorageOptions `yaml:"storage"`
	// Database, a PostgreSQL URL, keeps the index there instead of the
	// bbolt file. With S3 and a database, any number of servers with the
	// same configuration serve one registry (see doc.go, "Replicas").
	Database string `yaml:"database"`
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:5000"
	}
	if o.Realm == "" {
		o.Realm = "strata"
	}
	if o.GCGrace == 0 {
		o.GCGrace = time.Hour
	}
	if o.UploadExpiry == 0 {
		o.UploadExpiry = 24 * time.Hour
	}
}

// Registry is an http.Handler serving the OCI distribution spec v1.1 from a
// blob store and an index (see backend: local disk and bbolt by default,
// S3 and PostgreSQL for replicas). It is safe for concurrent use. Close it
// to release the index.
type Registry struct {
	blobs  backend.Blobs
	meta   backend.Meta
	opts   Options
	auth   *htpasswd.File
	token  *tokenVerifier // bearer-token auth, instead of auth
	policy *policy

	// store and db are the embedded back ends' handles (nil with S3 or
	// PostgreSQL).
	store *content.Store
	db    *bolt.DB
	// shared is set when upload sessions keep their state in the
	// metadata (the blob store's writers return a State), so that any
	// replica continues them: nothing about a session is cached here.
	shared bool

	mu      sync.Mutex
	uploads map[string]*upload

	cache *manifestCache
}

// New opens the registry whose index lives in root (created if needed) and
// whose blobs live in store, or, when opts name them, in S3
// (opts.Storage.S3) and PostgreSQL (opts.Database); store and root are then
// unused.
func New(store *content.Store, root string, opts Options) (*Registry, error) {
	opts.setDefaults()
	g, err := newRegistry(opts)
	if err != nil {
		return nil, err
	}
	if err := g.openBackends(store, root); err != nil {
		return nil, err
	}
	return g, nil
}

// newRegistry sets up everything but the back ends: policy and auth.
func newRegistry(opts Options) (*Registry, error) {
	g := &Registry{opts: opts, uploads: map[string]*upload{}, cache: newManifestCache(32 << 20)}
	p, err := compilePolicy(opts.AccessPolicy)
	if err != nil {
		return nil, fmt.Errorf("registry policy: %w", err)
	}
	g.policy = p
	if t := opts.Auth.Token; t != nil {
		if opts.HtpasswdPath != "" {
			return nil, fmt.Errorf("registry auth: htpasswd and auth.token exclude each other (accepted: one of them)")
		}
		if g.token, err = newTokenVerifier(*t); err != nil {
			return nil, fmt.Errorf("registry auth: %w", err)
		}
	}
	if opts.HtpasswdPath != "" {
		a, err := htpasswd.Open(opts.HtpasswdPath)
		if err != nil {
			return nil, err
		}
		g.auth = a
	}
	return g, nil
}

// Close closes every open upload (their bytes stay, resumable) and the
// index.
func (g *Registry) Close() error {
	g.mu.Lock()
	uploads := g.uploads
	g.uploads = map[string]*upload{}
	g.mu.Unlock()
	for _, u := range uploads {
		u.sem <- struct{}{} // waits for a request still working on it
		u.closeWriter()
		<-u.sem
	}
	return g.meta.Close()
}

// ServeHTTP authenticates, routes and runs one request; handlers return
// errors and this is the one place that turns them into responses.
func (g *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var lw *logWriter
	if g.opts.AccessLog != nil {
		lw = &logWriter{ResponseWriter: w}
		w = lw
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	c, err := g.authenticate(r)
	var rt route
	if err == nil {
		rt, err = parseRoute(r.URL.Path)
	}
	if err == nil {
		r, err = g.authorize(r, rt, c)
	}
	if err == nil {
		err = g.serve(w, r, rt)
	}
	if err != nil {
		// 5xx are logged once, here: to the access log when there is one
		// (the line carries the error), else to the standard logger.
		if status := g.writeError(w, r, err); status >= 500 && lw == nil {
			log.Printf("registry: %s %s: %d: %v", r.Method, r.URL.Path, status, err)
		}
	}
	if lw != nil {
		g.logRequest(lw, r, rt, c.user, time.Since(start), err)
	}
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead:
		return false
	}
	return true
}

func (g *Registry) serve(w http.ResponseWriter, r *http.Request, rt route) error {
	if g.opts.ReadOnly && isWrite(r.Method) && rt.Kind != routeAdminGC && rt.Kind != routeAdminFsck {
		return errReadOnly
	}
	m := r.Method
	switch rt.Kind {
	case routeBase:
		if m == http.MethodGet || m == http.MethodHead {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusOK)
			if m == http.MethodGet {
				io.WriteString(w, "{}")
			}
			return nil
		}
	case routeCatalog:
		if m == http.MethodGet {
			return g.getCatalog(w, r)
		}
	case routeTags:
		if m == http.MethodGet {
			return g.getTags(w, r, rt)
		}
	case routeManifest:
		switch m {
		case http.MethodGet, http.MethodHead:
			return g.getManifest(w, r, rt)
		case http.MethodPut:
			return g.putManifest(w, r, rt)
		case http.MethodDelete:
			return g.deleteManifest(w, r, rt)
		}
	case routeBlob:
		switch m {
		case http.MethodGet, http.MethodHead:
			return g.getBlob(w, r, rt)
		case http.MethodDelete:
			return g.deleteBlob(w, r, rt)
		}
	case routeUploads:
		if m == http.MethodPost {
			return g.startUpload(w, r, rt)
		}
	case routeUpload:
		switch m {
		case http.MethodGet:
			return g.uploadStatus(w, r, rt)
		case http.MethodPatch:
			return g.patchUpload(w, r, rt)
		case http.MethodPut:
			return g.finishUpload(w, r, rt)
		case http.MethodDelete:
			return g.cancelUpload(w, r, rt)
		}
	case routeReferrers:
		if m == http.MethodGet {
			return g.getReferrers(w, r, rt)
		}
	case routeAdminGC, routeAdminFsck:
		if m == http.MethodPost {
			return g.admin(w, r, rt)
		}
	}
	return fmt.Errorf("%s %s: %w", m, r.URL.Path, errUnsupported)
}

// admin runs GC or fsck for `strata registry gc|fsck` against a running
// server; authorizeAdmin has checked who asks.
func (g *Registry) admin(w http.ResponseWriter, r *http.Request, rt route) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w}
	switch rt.Kind {
	case routeAdminGC:
		opts := GCOptions{Out: out, DryRun: r.URL.Query().Get("dry-run") == "1" || r.URL.Query().Get("dry-run") == "true"}
		if s := r.URL.Query().Get("grace"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				fmt.Fprintf(out, "error: grace %q: %v\n", s, err)
				return nil
			}
			opts.Grace = d
		}
		if err := CheckGCGrace(opts.Grace, r.URL.Query().Get("force") == "1"); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return nil
		}
		st, err := g.GC(r.Context(), opts)
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
			return nil
		}
		fmt.Fprintf(out, "%s\n", st)
	case routeAdminFsck:
		if err := g.Fsck(r.Context(), out); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		} else {
			fmt.Fprintln(out, "ok")
		}
	}
	return nil
}

// flushWriter streams admin output line by line.
type flushWriter struct{ w http.ResponseWriter }

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	_ = http.NewResponseController(f.w).Flush()
	return n, err
}

// Cleanup closes idle upload writers and expires stale uploads; Serve
// runs it every minute.
func (g *Registry) Cleanup(ctx context.Context) error {
	return g.cleanUploads(ctx, time.Now())
}
