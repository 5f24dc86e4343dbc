package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// TestPushPullReplicas moves an image of three layers with `strata push`
// and `strata pull` through a round-robin proxy over three `strata registry
// serve` processes sharing one S3 bucket (versitygw) and one PostgreSQL
// database, so consecutive requests of one push land on different
// replicas: the shared layer is mounted across repositories, the pull
// into a fresh store gives the same image, every manifest and blob read
// back through the proxy matches its digest, and `registry fsck` finds S3
// and the database consistent.
func TestPushPullReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping registry replica processes in -short mode")
	}
	u := newUser(t)
	v := testutil.Versity(t)
	backends := []string{
		"--storage-s3-endpoint", v.Endpoint, "--storage-s3-bucket", "e2e", "--storage-s3-prefix", "reg/",
		"--storage-s3-access-key", v.AccessKey, "--storage-s3-secret-key", v.SecretKey, "--storage-s3-force-path-style",
		"--database", testutil.PostgresDB(t),
	}
	var targets []string
	for range 3 {
		addr := freeAddr(t)
		serve(t, addr, strataBin, append([]string{"registry", "serve", "--addr", addr,
			"--root", filepath.Join(t.TempDir(), "registry"), "--access-log", "none"}, backends...)...)
		targets = append(targets, "http://"+addr)
	}
	rr := testutil.NewRoundRobin(targets...)
	proxy := httptest.NewServer(rr)
	t.Cleanup(proxy.Close)
	addr := strings.TrimPrefix(proxy.URL, "http://")

	// base:1 (busybox), app:v1 (+ /hello), app:v2 (+ /more): three layers.
	u.baseImage(t, "base:1", "app:v1")
	ctx := t.TempDir()
	for f, body := range map[string]string{"Dockerfile": "FROM app:v1\nCOPY more /more\n", "more": "one layer more\n"} {
		if err := os.WriteFile(filepath.Join(ctx, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u.ok(t, "build", "-q", "-t", "app:v2", ctx)
	layers := strings.Fields(u.inspect(t, "{{range .RootFS.Layers}}{{.}} {{end}}", "app:v2"))
	if len(layers) != 3 {
		t.Fatalf("app:v2 has %d layers, want 3", len(layers))
	}
	base, app := addr+"/e2e/base:1", addr+"/e2e/app:v2"
	u.ok(t, "tag", "base:1", base)
	u.ok(t, "tag", "app:v2", app)

	r := u.ok(t, "push", base)
	baseID := wantLine(t, r, r.stderr, `([0-9a-f]{12}): Pushed`)[1]
	r = u.ok(t, "push", app)
	wantLine(t, r, r.stderr, baseID+`: Mounted from e2e/base`)
	if n := len(lines(r.stderr, `^[0-9a-f]{12}: Pushed$`)); n != 2 {
		t.Errorf("push of app sent %d layers, want 2 (the base's is mounted): %v", n, r)
	}
	appDigest := wantLine(t, r, r.stderr, `v2: digest: (sha256:[0-9a-f]{64}) size: [0-9]+`)[1]

	// Every digest the registry holds for the image, read through the
	// proxy (each request on the next replica).
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	body := getVerified(t, proxy.URL+"/v2/e2e/app/manifests/v2", appDigest)
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 3 {
		t.Fatalf("pushed manifest has %d layers, want 3: %s", len(m.Layers), body)
	}
	getVerified(t, proxy.URL+"/v2/e2e/app/blobs/"+m.Config.Digest, m.Config.Digest)
	for _, l := range m.Layers {
		getVerified(t, proxy.URL+"/v2/e2e/app/blobs/"+l.Digest, l.Digest)
	}

	// Pull into a fresh store: every layer comes, and the image is the one pushed.
	u2 := newUser(t)
	r = u2.ok(t, "pull", app)
	if n := len(lines(r.stderr, `^[0-9a-f]{12}: Pull complete$`)); n != 3 {
		t.Errorf("pull completed %d layers, want 3: %v", n, r)
	}
	wantLine(t, r, r.stderr, `Digest: `+appDigest)
	if got := strings.Fields(u2.inspect(t, "{{range .RootFS.Layers}}{{.}} {{end}}", app)); strings.Join(got, " ") != strings.Join(layers, " ") {
		t.Errorf("pulled layers %v, pushed %v", got, layers)
	}
	if got, want := u2.inspect(t, "{{.Id}}", app), u.inspect(t, "{{.Id}}", "app:v2"); got != want {
		t.Errorf("pulled image ID %s, pushed %s", got, want)
	}
	if got := u2.inspect(t, "{{index .RepoDigests 0}}", app); got != addr+"/e2e/app@"+appDigest {
		t.Errorf("pulled RepoDigests[0] = %s, want %s@%s", got, addr+"/e2e/app", appDigest)
	}
	u2.fsckClean(t)

	if i := rr.Idle(); i >= 0 {
		t.Errorf("replica %d served no request", i)
	}
	r = u.ok(t, append([]string{"registry", "fsck", "--root", filepath.Join(t.TempDir(), "fsck")}, backends...)...)
	if strings.TrimSpace(r.stdout) != "ok" {
		t.Errorf("registry fsck over S3 and PostgreSQL: %v", r)
	}
}

// getVerified GETs url and fails unless it answers 200 with a body whose
// sha256 is dgst.
func getVerified(t *testing.T, url, dgst string) []byte {
	t.Helper()
	rq, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	rq.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); resp.StatusCode != http.StatusOK || got != dgst {
		t.Fatalf("GET %s: %d, %d bytes of digest %s, want %s", url, resp.StatusCode, len(b), got, dgst)
	}
	return b
}
