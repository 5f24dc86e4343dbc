package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

const (
	regUser = "alice"
	regPass = "s3cret"
)

// registries start a registry with htpasswd (bcrypt) auth on a free
// loopback port and return its address.
var registries = []struct {
	name  string
	start func(t *testing.T, htpasswd string) string
}{
	{"strata", func(t *testing.T, htpasswd string) string {
		addr := freeAddr(t)
		serve(t, addr, strataBin, "registry", "serve", "--addr", addr, "--root", filepath.Join(t.TempDir(), "registry"),
			"--htpasswd", htpasswd, "--access-log", "none")
		return addr
	}},
	{"distribution", func(t *testing.T, htpasswd string) string {
		return testutil.Distribution(t, htpasswd)
	}},
}

// TestPushPullLogin moves images through each registry with the CLI, as
// docker users do, checking docker's output shapes and the errors a user
// meets: no login, a wrong password, a missing tag.
func TestPushPullLogin(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			u := newUser(t)
			addr := reg.start(t, writeHtpasswd(t, regUser, regPass))
			u.baseImage(t, "base:1", "app:v1")
			base, app := addr+"/e2e/base:1", addr+"/e2e/app:v1"
			u.ok(t, "tag", "base:1", base)
			u.ok(t, "tag", "app:v1", app)
			layers := strings.Fields(u.inspect(t, "{{range .RootFS.Layers}}{{.}} {{end}}", "app:v1"))
			if len(layers) != 2 {
				t.Fatalf("app has %d layers, want 2", len(layers))
			}
			loginHint := fmt.Sprintf("run \"strata login %s\" first", addr)

			// Not logged in: the error says how to log in.
			u.fails(t, nil, []string{"push " + base, "unauthorized", loginHint}, "push", base)

			// A wrong password is refused and not stored.
			r := u.fails(t, strings.NewReader("wrong\n"), []string{"login to " + addr, "unauthorized"},
				"login", addr, "-u", regUser, "--password-stdin")
			if auth := storedAuth(t, u, addr); auth != "" {
				t.Errorf("a refused login stored credentials %q (%v)", auth, r)
			}

			r = u.run(t, strings.NewReader(regPass+"\n"), "login", addr, "-u", regUser, "--password-stdin")
			if r.code != 0 || strings.TrimSpace(r.stdout) != "Login Succeeded" {
				t.Fatalf("login: %v", r)
			}
			if got, want := storedAuth(t, u, addr), base64.StdEncoding.EncodeToString([]byte(regUser+":"+regPass)); got != want {
				t.Errorf("config.json auths[%s].auth = %q, want %q", addr, got, want)
			}

			// First push: every layer uploaded, docker's closing line.
			// Push progress names a layer by its diffID, as docker's
			// does (pull's by the blob's digest).
			short := func(d string) string { return strings.TrimPrefix(d, "sha256:")[:12] }
			r = u.ok(t, "push", base)
			wantLine(t, r, r.stderr, `The push refers to repository \[`+addr+`/e2e/base\]`)
			wantLine(t, r, r.stderr, short(layers[0])+`: Preparing`)
			baseID := wantLine(t, r, r.stderr, `([0-9a-f]{12}): Pushed`)[1]
			if baseID != short(layers[0]) {
				t.Errorf("base layer pushed as %s, want its diffID's %s", baseID, short(layers[0]))
			}
			m := wantLine(t, r, r.stderr, `1: digest: (sha256:[0-9a-f]{64}) size: ([0-9]+)`)
			if strings.TrimSpace(r.stdout) != m[1] {
				t.Errorf("push printed %q on stdout, want its digest %s", r.stdout, m[1])
			}

			// The app shares the base layer: mounted from the base's
			// repository, not sent again; its own layer is pushed.
			r = u.ok(t, "push", app)
			wantLine(t, r, r.stderr, baseID+`: Mounted from e2e/base`)
			appID := wantLine(t, r, r.stderr, `([0-9a-f]{12}): Pushed`)[1]
			if appID != short(layers[1]) {
				t.Fatalf("pushed %s, want only the app's layer %s: %v", appID, short(layers[1]), r)
			}
			// The build kept its layer uncompressed: the manifest pushed
			// names the gzip made now, and push says so.
			wantLine(t, r, r.stderr, `v1: 1 of 2 layers compressed for the push \(a build keeps them uncompressed\): the manifest pushed is new, not sha256:[0-9a-f]{64}`)
			m = wantLine(t, r, r.stderr, `v1: digest: (sha256:[0-9a-f]{64}) size: ([0-9]+)`)
			appDigest := m[1]

			// Again: nothing to send.
			r = u.ok(t, "push", app)
			wantLine(t, r, r.stderr, baseID+`: Layer already exists`)
			wantLine(t, r, r.stderr, appID+`: Layer already exists`)
			if m := wantLine(t, r, r.stderr, `v1: digest: (sha256:[0-9a-f]{64}) size: ([0-9]+)`); m[1] != appDigest {
				t.Errorf("re-push gave digest %s, first push %s", m[1], appDigest)
			}
			if n := len(lines(r.stderr, `: (Pushing|Pushed)$`)); n != 0 {
				t.Errorf("re-push sent %d layers again: %v", n, r)
			}

			// Pull the app back with only the base here (the build cache
			// would keep the app's layer).
			u.ok(t, "builder", "prune", "--all")
			u.ok(t, "rmi", app, "app:v1")
			r = u.ok(t, "pull", app)
			wantLine(t, r, r.stderr, `v1: Pulling from e2e/app`)
			pulledBase := wantLine(t, r, r.stderr, `([0-9a-f]{12}): Already exists`)[1]
			if pulledApp := wantLine(t, r, r.stderr, `([0-9a-f]{12}): Pull complete`)[1]; pulledApp == pulledBase {
				t.Errorf("pull: the base layer and the app's both %s: %v", pulledBase, r)
			}
			wantLine(t, r, r.stderr, `Digest: `+appDigest)
			wantLine(t, r, r.stderr, `Status: Downloaded newer image for `+app)
			if strings.TrimSpace(r.stdout) != app {
				t.Errorf("pull printed %q on stdout, want %s", r.stdout, app)
			}
			if got := strings.Fields(u.inspect(t, "{{range .RootFS.Layers}}{{.}} {{end}}", app)); strings.Join(got, " ") != strings.Join(layers, " ") {
				t.Errorf("pulled layers %v, pushed %v", got, layers)
			}
			r = u.ok(t, "pull", app)
			wantLine(t, r, r.stderr, `Status: Image is up to date for `+app)

			// A tag the registry does not have.
			u.fails(t, nil, []string{"pull " + addr + "/e2e/app:nope", "not found"}, "pull", addr+"/e2e/app:nope")

			// Logout forgets the credentials; the registry then refuses.
			r = u.ok(t, "logout", addr)
			if strings.TrimSpace(r.stdout) != "Removing login credentials for "+addr {
				t.Errorf("logout: %v", r)
			}
			r = u.ok(t, "logout", addr)
			if strings.TrimSpace(r.stdout) != "Not logged in to "+addr {
				t.Errorf("second logout: %v", r)
			}
			u.fails(t, nil, []string{"pull " + app, loginHint}, "pull", app)

			// Credentials that no longer work (a changed password) say
			// the same: log in again.
			writeAuth(t, u, addr, regUser+":old-password")
			u.fails(t, nil, []string{"pull " + app, loginHint}, "pull", app)
			u.fails(t, nil, []string{"push " + app, loginHint}, "push", app)

			// Pushes that finished leave no upload sessions behind.
			if ents, _ := os.ReadDir(filepath.Join(u.root, "push-sessions")); len(ents) != 0 {
				t.Errorf("%d push session files left after pushes that finished", len(ents))
			}
			u.fsckClean(t)
		})
	}
}

// storedAuth reads auths[host].auth from the user's docker config.
func storedAuth(t *testing.T, u *user, host string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(u.config, "config.json"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	return cfg.Auths[host].Auth
}

// writeAuth stores user:pass for host in docker's format, as docker login would.
func writeAuth(t *testing.T, u *user, host, userPass string) {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(userPass))}}}
	b, _ := json.Marshal(cfg)
	if err := os.MkdirAll(u.config, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(u.config, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
