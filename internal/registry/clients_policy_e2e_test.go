package registry_test

// The access policy through the real clients (issue 13, part 4): skopeo,
// crane, oras and regctl, each as alice (admin), bob and an anonymous
// user, against the policy of TestPolicyTable, once with htpasswd and
// once with bearer tokens from a token server that grants what the same
// policy allows.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/testutil"
)

var policyUsers = map[string]string{"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"}

// startPolicyRegistry serves a registry with the policy of
// TestPolicyTable, authenticated by htpasswd or, for mode "token", by
// tokens whose grants come from that policy.
func startPolicyRegistry(t *testing.T, mode string) string {
	t.Helper()
	dir := t.TempDir()
	var htpasswd strings.Builder
	for u, p := range policyUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(p), 5)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&htpasswd, "%s:%s\n", u, h)
	}
	writeFile(t, filepath.Join(dir, "htpasswd"), []byte(htpasswd.String()))
	writeFile(t, filepath.Join(dir, "registry.yaml"), []byte(registry.IssuePolicy))
	opts, err := registry.LoadConfig(filepath.Join(dir, "registry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ts *testutil.TokenServer
	if mode == "token" {
		ts = testutil.NewTokenServer(t, "strata-clients")
		ts.Users = policyUsers
		ts.KeyID = registry.LibtrustKeyID
		if ts.Grant, err = registry.PolicyGrant(opts.AccessPolicy); err != nil {
			t.Fatal(err)
		}
	}
	// In token mode the tokens come from the registry's own host:port
	// (crane refuses a realm on another loopback port).
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	if ts != nil {
		mux.Handle("/token", ts)
		// The token decides: no access section on the registry itself.
		opts.HtpasswdPath, opts.Access = "", nil
		opts.Auth.Token = &registry.TokenAuth{Realm: srv.URL + "/token", Service: ts.Service, Issuer: ts.Issuer, RootCertBundle: ts.Bundle}
	}
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := registry.New(store, filepath.Join(dir, "registry"), opts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", g)
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// policyTable collects the rows every client produced, printed once.
var policyTable struct {
	sync.Mutex
	rows []string
}

func TestClientsPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping real clients in -short mode")
	}
	img := writeImage(t, t.TempDir())
	for _, mode := range []string{"htpasswd", "token"} {
		t.Run(mode, func(t *testing.T) {
			for _, c := range clients {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					testClientPolicy(t, c, img, mode)
				})
			}
		})
	}
	policyTable.Lock()
	defer policyTable.Unlock()
	if len(policyTable.rows) > 0 {
		t.Logf("client | auth | user | action | repository | result\n%s", strings.Join(policyTable.rows, "\n"))
	}
}

func testClientPolicy(t *testing.T, c client, img image, mode string) {
	bin := findClient(t, c.name)
	host := startPolicyRegistry(t, mode)
	runners := map[string]*runner{}
	for _, user := range []string{"alice", "bob", ""} {
		r := newRunner(t, bin)
		if c.setup != nil {
			for _, args := range c.setup(host) {
				r.must(args...)
			}
		}
		if user != "" {
			r.must(c.login(host, user, policyUsers[user])...)
		}
		runners[user] = r
	}
	ref := func(repo, tag string) string { return host + "/" + repo + ":" + tag }
	step := func(user, action, repo string, want bool, args []string) {
		t.Helper()
		_, err := runners[user].run(args...)
		if (err == nil) != want {
			t.Errorf("%s as %q on %s: succeeded=%v, want %v: %v", action, user, repo, err == nil, want, err)
		}
		who := user
		if who == "" {
			who = "(anonymous)"
		}
		res := map[bool]string{true: "allowed", false: "refused"}[err == nil]
		policyTable.Lock()
		policyTable.rows = append(policyTable.rows, fmt.Sprintf("%s | %s | %s | %s | %s | %s", c.name, mode, who, action, repo, res))
		policyTable.Unlock()
	}
	pull := func(user, repo string, want bool) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "pulled")
		step(user, "pull", repo, want, c.pull(ref(repo, "v1"), out))
		if want {
			if got, _ := checkLayout(t, out); got != img.manifest {
				t.Errorf("%q pulled %s from %s, want %s", user, got, repo, img.manifest)
			}
		}
	}

	// alice is an admin: she fills the registry.
	for _, repo := range []string{"alice/app", "public/base", "secret/s"} {
		step("alice", "push", repo, true, c.push(img.dir, ref(repo, "v1")))
	}
	// bob reads what the catch-all lets him, writes only under bob/.
	pull("bob", "alice/app", true)
	pull("bob", "secret/s", false)
	step("bob", "push", "bob/app", true, c.push(img.dir, ref("bob/app", "v1")))
	step("bob", "push", "alice/app", false, c.push(img.dir, ref("alice/app", "v2")))
	step("bob", "copy from", "alice/app", true, c.copy(ref("alice/app", "v1"), ref("bob/copy", "v1")))
	step("bob", "copy from", "secret/s", false, c.copy(ref("secret/s", "v1"), ref("bob/s", "v1")))
	step("bob", "delete", "bob/app", false, c.del(host+"/bob/app@"+img.manifest.String()))
	// Anonymous: public/** only, read only.
	pull("", "public/base", true)
	pull("", "alice/app", false)
	step("", "push", "public/base", false, c.push(img.dir, ref("public/base", "v2")))
	// alice may delete in her namespace.
	step("alice", "delete", "alice/app", true, c.del(host+"/alice/app@"+img.manifest.String()))
	step("bob", "pull deleted", "alice/app", false, c.pull(ref("alice/app", "v1"), filepath.Join(t.TempDir(), "gone")))
}
