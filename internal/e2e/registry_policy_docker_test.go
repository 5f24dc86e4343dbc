package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// policyGrant is registryPolicy as a token server grants it.
func policyGrant(user, typ, name string, actions []string) []string {
	if typ != "repository" {
		return nil
	}
	var ok func(a string) bool
	switch {
	case user == "alice": // admin
		ok = func(string) bool { return true }
	case strings.HasPrefix(name, "alice/") && user == "":
		ok = func(string) bool { return false }
	case strings.HasPrefix(name, "public/") && user == "":
		ok = func(a string) bool { return a == "pull" }
	case user == "bob" && strings.HasPrefix(name, "bob/"):
		ok = func(a string) bool { return a == "pull" || a == "push" }
	case user != "":
		ok = func(a string) bool { return a == "pull" }
	default:
		ok = func(string) bool { return false }
	}
	var out []string
	for _, a := range actions {
		if ok(a) {
			out = append(out, a)
		}
	}
	return out
}

// TestRegistryPolicyDocker: docker (the shared dockerd) through an access
// policy, with htpasswd and with a token server: the token-less and the
// token WWW-Authenticate flows.
func TestRegistryPolicyDocker(t *testing.T) {
	docker := dockerCLI(t)
	for _, mode := range []string{"htpasswd", "token"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var hp strings.Builder
			for _, u := range []string{"alice", "bob"} {
				fmt.Fprintf(&hp, "%s:%s\n", u, bcryptHash(t, "pw-"+u))
			}
			cfg := registryPolicy
			if mode == "token" {
				ts := testutil.NewTokenServer(t, "strata-e2e")
				ts.Users = map[string]string{"alice": "pw-alice", "bob": "pw-bob"}
				ts.Grant = policyGrant
				// The token decides, the registry has no access section.
				cfg = fmt.Sprintf("admins: [alice]\nauth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
					ts.URL, ts.Service, ts.Issuer, ts.Bundle)
			}
			for name, body := range map[string]string{"htpasswd": hp.String(), "registry.yaml": cfg} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			addr := freeAddr(t)
			serve(t, addr, strataBin, "registry", "serve", "--config", filepath.Join(dir, "registry.yaml"), "--addr", addr,
				"--root", filepath.Join(dir, "data"), "--access-log", "none")

			// alice fills the registry with strata.
			alice := newUser(t)
			alice.run(t, strings.NewReader("pw-alice\n"), "login", addr, "-u", "alice", "--password-stdin")
			alice.baseImage(t, "base:1", "app:v1")
			for _, ref := range []string{addr + "/alice/app:v1", addr + "/public/base:1"} {
				alice.ok(t, "tag", "app:v1", ref)
				alice.ok(t, "push", ref)
			}

			refs := []string{addr + "/alice/app:v1", addr + "/public/base:1", addr + "/bob/app:v1", addr + "/alice/app:v2"}
			t.Cleanup(func() { docker(append([]string{"rmi", "-f"}, refs...)...) })
			bob := func(args ...string) (string, error) {
				return docker(append([]string{"--config", filepath.Join(dir, "docker-bob")}, args...)...)
			}
			anon := func(args ...string) (string, error) {
				return docker(append([]string{"--config", filepath.Join(dir, "docker-anon")}, args...)...)
			}
			must := func(out string, err error) string {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			refused := func(want string, out string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("want a refusal saying %q, got %v (%s)", want, err, out)
				}
			}

			if out := must(bob("login", "-u", "bob", "-p", "pw-bob", addr)); !strings.Contains(out, "Login Succeeded") {
				t.Errorf("docker login: %q", out)
			}
			must(bob("pull", addr+"/alice/app:v1"))
			must(bob("tag", addr+"/alice/app:v1", addr+"/bob/app:v1"))
			must(bob("push", addr+"/bob/app:v1"))
			must(bob("tag", addr+"/alice/app:v1", addr+"/alice/app:v2"))
			out, err := bob("push", addr+"/alice/app:v2")
			refused("denied", out, err)

			// Anonymous pulls of public/**: docker answers a Basic
			// challenge without credentials with "no basic auth
			// credentials" and never tries, so for docker they need
			// tokens (the token server issues anonymous ones);
			// crane, oras, regctl, skopeo and strata pull anonymously
			// under htpasswd too (TestClientsPolicy, TestRegistryPolicyStrata).
			if mode == "token" {
				must(anon("pull", addr+"/public/base:1"))
				out, err = anon("pull", addr+"/alice/app:v1")
				refused("denied", out, err)
			}
		})
	}
}
