package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// registryPolicy is the access policy of issue 13, with bob given a
// namespace of his own.
const registryPolicy = `htpasswd: htpasswd
delete: false
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
  - repos: ["**"]
    users: ["*"]
    actions: [pull]
`

// bcryptHash is an htpasswd hash of pass.
func bcryptHash(t *testing.T, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestRegistryPolicyStrata: strata push and pull, as alice (admin), bob
// and an anonymous user, against `strata registry serve --config` with
// an access policy; then the admin GC's rules.
func TestRegistryPolicyStrata(t *testing.T) {
	dir := t.TempDir()
	var hp strings.Builder
	for _, u := range []string{"alice", "bob"} {
		fmt.Fprintf(&hp, "%s:%s\n", u, bcryptHash(t, "pw-"+u))
	}
	for name, body := range map[string]string{"htpasswd": hp.String(), "registry.yaml": registryPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob, anon := newUser(t), newUser(t), newUser(t)
	addr := freeAddr(t)
	serve(t, addr, strataBin, "registry", "serve", "--config", filepath.Join(dir, "registry.yaml"), "--addr", addr,
		"--root", filepath.Join(dir, "data"), "--access-log", "none")
	login := func(u *user, name string) {
		u.run(t, strings.NewReader("pw-"+name+"\n"), "login", addr, "-u", name, "--password-stdin")
	}
	login(alice, "alice")
	login(bob, "bob")

	alice.baseImage(t, "base:1", "app:v1")
	for _, ref := range []string{addr + "/alice/app:v1", addr + "/public/base:1"} {
		alice.ok(t, "tag", "app:v1", ref)
		alice.ok(t, "push", ref)
	}

	// bob reads alice's image and pushes it under his name: the layers
	// are mounted from alice/app, which he may read.
	bob.ok(t, "pull", addr+"/alice/app:v1")
	bob.ok(t, "tag", addr+"/alice/app:v1", addr+"/bob/app:v1")
	r := bob.ok(t, "push", addr+"/bob/app:v1")
	wantLine(t, r, r.stderr, `[0-9a-f]{12}: Mounted from alice/app`)
	bob.ok(t, "tag", addr+"/alice/app:v1", addr+"/alice/app:v2")
	bob.fails(t, nil, []string{"push " + addr + "/alice/app", "denied"}, "push", addr+"/alice/app:v2")

	// Anonymous: public/** only.
	anon.ok(t, "pull", addr+"/public/base:1")
	anon.fails(t, nil, []string{"pull " + addr + "/alice/app:v1", fmt.Sprintf("run \"strata login %s\" first", addr)}, "pull", addr+"/alice/app:v1")

	// The admin endpoints: admins only, and a live GC keeps a 10-minute
	// grace unless forced.
	gc := func(u *user, args ...string) result {
		return u.run(t, nil, append([]string{"registry", "gc", "--url", "http://" + addr, "--dry-run"}, args...)...)
	}
	if r := gc(bob, "-u", "bob", "-p", "pw-bob"); r.code == 0 || !strings.Contains(r.stderr, "403") {
		t.Errorf("gc as bob: %v", r)
	}
	if r := gc(alice, "-u", "alice", "-p", "pw-alice", "--grace", "1m"); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("gc with a 1m grace: %v", r)
	}
	if r := gc(alice, "-u", "alice", "-p", "pw-alice", "--grace", "1m", "--force"); r.code != 0 {
		t.Errorf("forced gc: %v", r)
	}
}

// TestRegistryServeWarnings: serving writable without authentication
// beyond loopback is said on stderr; a bad policy stops the start with
// one line. (The non-loopback address is a documentation one, TEST-NET-1:
// the listen fails after the warning, and no traffic leaves the host.)
func TestRegistryServeWarnings(t *testing.T) {
	u := newUser(t)
	dir := t.TempDir()
	r := u.run(t, nil, "registry", "serve", "--addr", "192.0.2.1:5000", "--root", filepath.Join(dir, "data"), "--access-log", "none")
	if r.code == 0 || !strings.Contains(r.stderr, "warning: serving 192.0.2.1:5000 writable without authentication") {
		t.Errorf("serve on a non-loopback address without auth: %v", r)
	}
	r = u.run(t, nil, "registry", "serve", "--addr", "192.0.2.1:5000", "--read-only", "--root", filepath.Join(dir, "data"), "--access-log", "none")
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("read-only serve warned: %v", r)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("access:\n  - repos: [\"team/**\"]\n    users: [bob]\n    actions: [pull, write]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = u.run(t, nil, "registry", "serve", "--config", bad, "--addr", freeAddr(t), "--root", filepath.Join(dir, "data"))
	msg := strings.TrimSpace(r.stderr)
	if r.code == 0 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, `unknown action "write" (accepted: pull, push, delete)`) {
		t.Errorf("serve with a bad policy: %v", r)
	}
}
