package registry

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/testutil"
)

// issuePolicy is the access policy of issue 13 with delete turned on, plus
// three rules before its catch-all so that a non-admin can push
// somewhere (bob/**) and there is a repository some users may not read
// (secret/**, where an empty action list is an explicit deny).
const issuePolicy = `
htpasswd: htpasswd
delete: true
admins: [alice]
access:
  - repos: ["alice/**"]
    users: [alice]
    actions: [pull, push, delete]
  - repos: ["public/**"]
    anonymous: true
    actions: [pull]
  - repos: ["bob/**"]
    users: [bob]
    actions: [pull, push]
  - repos: ["secret/**"]
    users: [carol]
    actions: [pull]
  - repos: ["secret/**"]
    users: ["*"]
    actions: []
  - repos: ["**"]
    users: ["*"]
    actions: [pull]
`

// policyBackend names a pair of back ends for policyRegistry: the policy
// sits in the HTTP layer, above storage, and must decide alike on both.
type policyBackend struct {
	name string
	set  func(t *testing.T) func(*Options) // nil: local store and bbolt
}

var policyBackends = []policyBackend{
	{"local+bbolt", nil},
	{"s3+postgres", func(t *testing.T) func(*Options) {
		s3, db := s3Config(t, testutil.Versity(t), "policy"), testutil.PostgresDB(t)
		return func(o *Options) { o.Storage.S3, o.Database = s3, db }
	}},
}

// policyRegistry serves a registry configured by the YAML text cfg
// (its htpasswd file holding alice, bob and carol, password "pw-<user>"),
// after seeding the given repositories with one image tagged v1 each, on
// the local back ends.
func policyRegistry(t *testing.T, cfg string, seed ...string) (*httptest.Server, map[string]string) {
	t.Helper()
	return policyRegistryOn(t, policyBackends[0], cfg, seed...)
}

func policyRegistryOn(t *testing.T, be policyBackend, cfg string, seed ...string) (*httptest.Server, map[string]string) {
	t.Helper()
	setBackend := func(*Options) {}
	if be.set != nil {
		setBackend = be.set(t)
	}
	dir := t.TempDir()
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), map[string]string{"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"})
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "registry")
	manifests := map[string]string{}
	{
		var o Options
		setBackend(&o)
		g, err := New(store, root, o)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(g)
		for _, repo := range seed {
			img, dgst := testImage(t, srv, repo, []byte("layer of "+repo), nil)
			if r := putManifest(t, srv, repo, "v1", img); r.status != http.StatusCreated {
				t.Fatalf("seed %s: %d %s", repo, r.status, r.body)
			}
			manifests[repo] = dgst.String()
		}
		srv.Close()
		g.Close()
	}
	p := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	setBackend(&opts)
	g, err := New(store, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	return srv, manifests
}

// TestPolicyTable is the registry policy table: (caller, repository,
// action) → status, through real HTTP, on each pair of back ends.
func TestPolicyTable(t *testing.T) {
	for _, be := range policyBackends {
		t.Run(be.name, func(t *testing.T) { testPolicyTable(t, be) })
	}
}

func testPolicyTable(t *testing.T, be policyBackend) {
	srv, manifests := policyRegistryOn(t, be, issuePolicy, "alice/app", "public/base", "bob/tool", "secret/s", "other/x")
	layer := digestOf([]byte("layer of secret/s"))
	type row struct {
		user, repo, action string
		status             int
		code               string
	}
	rows := []row{
		{"", "", "ping", 401, "UNAUTHORIZED"},
		{"", "public/base", "pull", 200, ""},
		{"", "public/base", "push", 401, "UNAUTHORIZED"},
		{"", "alice/app", "pull", 401, "UNAUTHORIZED"},
		{"", "other/x", "pull", 401, "UNAUTHORIZED"},
		{"", "", "gc", 401, "UNAUTHORIZED"},
		{"alice", "", "ping", 200, ""},
		{"alice", "alice/app", "pull", 200, ""},
		{"alice", "alice/app", "push", 202, ""},
		{"alice", "public/base", "push", 202, ""}, // admin
		{"alice", "secret/s", "pull", 200, ""},    // admin
		{"alice", "", "gc", 200, ""},
		{"bob", "", "ping", 200, ""},
		{"bob", "alice/app", "pull", 200, ""},
		{"bob", "alice/app", "push", 403, "DENIED"},
		{"bob", "alice/app", "delete", 403, "DENIED"},
		{"bob", "public/base", "pull", 200, ""},
		{"bob", "public/base", "push", 403, "DENIED"},
		{"bob", "bob/tool", "push", 202, ""},
		{"bob", "bob/tool", "delete", 403, "DENIED"},
		{"bob", "secret/s", "pull", 403, "DENIED"},
		{"bob", "secret/s", "pull-blob", 403, "DENIED"},
		{"bob", "other/x", "pull", 200, ""},
		{"bob", "other/x", "push", 403, "DENIED"},
		{"bob", "", "gc", 403, "DENIED"},
		{"bob", "", "fsck", 403, "DENIED"},
		{"carol", "secret/s", "pull", 200, ""},
		{"carol", "secret/s", "push", 403, "DENIED"},
		{"mallory", "public/base", "pull", 401, "UNAUTHORIZED"}, // unknown user: bad credentials, not anonymous
		{"alice", "alice/app", "delete", 202, ""},               // last: it removes alice/app:v1
	}
	var table strings.Builder
	for _, rw := range rows {
		name := rw.user + " " + rw.action + " " + rw.repo
		t.Run(name, func(t *testing.T) {
			q := req{user: rw.user, pass: "pw-" + rw.user}
			switch rw.action {
			case "ping":
				q.method, q.path = "GET", "/v2/"
			case "gc":
				q.method, q.path = "POST", "/strata/v1/gc?dry-run=1"
			case "fsck":
				q.method, q.path = "POST", "/strata/v1/fsck"
			case "pull":
				q.method, q.path = "GET", "/v2/"+rw.repo+"/manifests/v1"
				q.header = map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}
			case "pull-blob":
				q.method, q.path = "GET", "/v2/"+rw.repo+"/blobs/"+layer
			case "push":
				q.method, q.path = "POST", "/v2/"+rw.repo+"/blobs/uploads/"
			case "delete":
				q.method, q.path = "DELETE", "/v2/"+rw.repo+"/manifests/"+manifests[rw.repo]
			}
			r := do(t, srv, q)
			if r.status != rw.status || errCode(r.body) != rw.code {
				t.Errorf("%s %s: %d %s, want %d %s", q.method, q.path, r.status, r.body, rw.status, rw.code)
			}
			if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != `Basic realm="strata"` {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
		user := rw.user
		if user == "" {
			user = "(anonymous)"
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %d %s |\n", user, rw.repo, rw.action, rw.status, rw.code)
	}
	t.Logf("policy table:\n%s", table.String())
}

// TestPolicyCatalog: the catalog lists only what the caller may pull.
func TestPolicyCatalog(t *testing.T) {
	for _, be := range policyBackends {
		t.Run(be.name, func(t *testing.T) { testPolicyCatalog(t, be) })
	}
}

func testPolicyCatalog(t *testing.T, be policyBackend) {
	srv, _ := policyRegistryOn(t, be, issuePolicy, "alice/app", "public/base", "secret/s", "other/x")
	for _, tt := range []struct {
		user string
		want string
	}{
		{"", `{"repositories":["public/base"]}`},
		{"bob", `{"repositories":["alice/app","other/x","public/base"]}`},
		{"carol", `{"repositories":["alice/app","other/x","public/base","secret/s"]}`},
		{"alice", `{"repositories":["alice/app","other/x","public/base","secret/s"]}`},
	} {
		r := do(t, srv, req{method: "GET", path: "/v2/_catalog", user: tt.user, pass: "pw-" + tt.user})
		if diff := cmp.Diff(tt.want, strings.TrimSpace(string(r.body))); r.status != http.StatusOK || diff != "" {
			t.Errorf("catalog as %q: %d (-want +got)\n%s", tt.user, r.status, diff)
		}
	}
	// Paging: the link follows the unfiltered names, a page may be short.
	r := do(t, srv, req{method: "GET", path: "/v2/_catalog?n=2"})
	if diff := cmp.Diff(`{"repositories":[]}`, strings.TrimSpace(string(r.body))); diff != "" {
		t.Errorf("anonymous page 1 (-want +got)\n%s", diff)
	}
	if !strings.Contains(r.header.Get("Link"), "last=other") {
		t.Errorf("Link %q", r.header.Get("Link"))
	}
}

// TestPolicyMount: a cross-repository mount needs pull on the source,
// else the registry answers with an upload session instead (202).
func TestPolicyMount(t *testing.T) {
	for _, be := range policyBackends {
		t.Run(be.name, func(t *testing.T) { testPolicyMount(t, be) })
	}
}

func testPolicyMount(t *testing.T, be policyBackend) {
	srv, _ := policyRegistryOn(t, be, issuePolicy, "alice/app", "secret/s")
	for _, tt := range []struct {
		name, user, from, blobOf string
		status                   int
	}{
		{"readable source", "bob", "alice/app", "alice/app", http.StatusCreated},
		{"unreadable source", "bob", "secret/s", "secret/s", http.StatusAccepted},
		{"no from", "bob", "", "secret/s", http.StatusAccepted},         // bob may not read every repository
		{"no from, admin", "alice", "", "secret/s", http.StatusCreated}, // alice may
	} {
		t.Run(tt.name, func(t *testing.T) {
			dgst := digestOf([]byte("layer of " + tt.blobOf))
			q := "?mount=" + dgst
			if tt.from != "" {
				q += "&from=" + tt.from
			}
			target := tt.user + "/x"
			r := do(t, srv, req{method: "POST", path: "/v2/" + target + "/blobs/uploads/" + q, user: tt.user, pass: "pw-" + tt.user})
			if r.status != tt.status {
				t.Fatalf("mount %s: %d %s, want %d", q, r.status, r.body, tt.status)
			}
			head := do(t, srv, req{method: "HEAD", path: "/v2/" + target + "/blobs/" + dgst, user: tt.user, pass: "pw-" + tt.user})
			if want := map[bool]int{true: 200, false: 404}[tt.status == http.StatusCreated]; head.status != want {
				t.Errorf("HEAD in %s after the mount: %d, want %d", target, head.status, want)
			}
		})
	}
}

// TestPolicyDeleteOff: deletes are off unless turned on (405 UNSUPPORTED,
// as distribution), after authorization (a stranger still gets 403).
func TestPolicyDeleteOff(t *testing.T) {
	cfg := strings.Replace(issuePolicy, "delete: true", "delete: false", 1)
	srv, manifests := policyRegistry(t, cfg, "alice/app")
	path := "/v2/alice/app/manifests/" + manifests["alice/app"]
	if r := do(t, srv, req{method: "DELETE", path: path, user: "alice", pass: "pw-alice"}); r.status != http.StatusMethodNotAllowed || errCode(r.body) != "UNSUPPORTED" {
		t.Errorf("alice: %d %s", r.status, r.body)
	}
	if r := do(t, srv, req{method: "DELETE", path: path, user: "bob", pass: "pw-bob"}); r.status != http.StatusForbidden {
		t.Errorf("bob: %d %s", r.status, r.body)
	}
	if r := do(t, srv, req{method: "GET", path: path, user: "bob", pass: "pw-bob"}); r.status != http.StatusOK {
		t.Errorf("manifest after refused deletes: %d", r.status)
	}
	// Cancelling one's own upload is part of a push, not a delete.
	r := do(t, srv, req{method: "POST", path: "/v2/alice/app/blobs/uploads/", user: "alice", pass: "pw-alice"})
	if r := do(t, srv, req{method: "DELETE", path: r.header.Get("Location"), user: "alice", pass: "pw-alice"}); r.status != http.StatusNoContent {
		t.Errorf("upload cancel: %d %s", r.status, r.body)
	}
}

// TestPolicyAdminGCGrace: a live server refuses a grace below 10 minutes
// unless forced.
func TestPolicyAdminGCGrace(t *testing.T) {
	srv, _ := policyRegistry(t, issuePolicy, "alice/app")
	for _, tt := range []struct {
		query, want string
	}{
		{"grace=1ms", "error: gc grace 1ms: below 10m0s"},
		{"grace=9m", "error: gc grace 9m0s: below 10m0s"},
		{"grace=1ms&force=1", "0 manifests, 0 blob links"},
		{"grace=10m", "0 manifests, 0 blob links"},
	} {
		r := do(t, srv, req{method: "POST", path: "/strata/v1/gc?dry-run=1&" + tt.query, user: "alice", pass: "pw-alice"})
		if !strings.Contains(string(r.body), tt.want) {
			t.Errorf("gc %s: %d %q, want %q", tt.query, r.status, r.body, tt.want)
		}
	}
}
