package registry_test

// Real registry clients against Strata's registry (issue 6, "Checks"):
// skopeo (Debian), crane, oras and regctl (scripts/install-clients.sh puts
// the Go ones in /var/cache/strata-tools/bin). Each client, anonymous and
// with htpasswd, logs in (where it can), pushes an OCI layout written here,
// pulls it back into another layout whose every blob is re-hashed, tags,
// lists tags, copies to another repository and deletes. A client that is
// not installed is skipped with a message saying how to install it.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry"
)

// toolsBin is where scripts/install-clients.sh installs the Go clients;
// STRATA_TOOLS_BIN overrides it (in both places).
func toolsBin() string {
	if d := os.Getenv("STRATA_TOOLS_BIN"); d != "" {
		return d
	}
	return "/var/cache/strata-tools/bin"
}

// findClient returns the path of a client binary on PATH or in toolsBin,
// or skips t.
func findClient(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(toolsBin(), name)
	if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
		return p
	}
	t.Skipf("skipping %s: %s is not on PATH nor in %s (run scripts/install-clients.sh)", t.Name(), name, toolsBin())
	return ""
}

// image is the OCI layout the clients push, and what a pull must give back.
type image struct {
	dir      string          // OCI image layout, manifest tagged "v1"
	manifest digest.Digest   // digest of the manifest
	blobs    []digest.Digest // manifest, config and layers, sorted
}

// writeImage writes a small busybox-like image (two gzipped layers: a
// random "bin/busybox" with applet symlinks and /etc/passwd, then an app
// file) as an OCI image layout in dir.
func writeImage(t *testing.T, dir string) image {
	t.Helper()
	bb := make([]byte, 200<<10)
	if _, err := rand.Read(bb); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		name, link string
		data       []byte
		dir        bool
	}
	layers := [][]entry{
		{
			{name: "bin/", dir: true},
			{name: "bin/busybox", data: bb},
			{name: "bin/sh", link: "busybox"},
			{name: "bin/ls", link: "busybox"},
			{name: "etc/", dir: true},
			{name: "etc/passwd", data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		},
		{
			{name: "app/", dir: true},
			{name: "app/hello.txt", data: []byte("hello from strata " + time.Now().String() + "\n")},
		},
	}
	mtime := time.Unix(1700000000, 0)
	var descs []ocispec.Descriptor
	var diffIDs []digest.Digest
	for _, entries := range layers {
		var gz bytes.Buffer
		diff := sha256.New()
		zw := gzip.NewWriter(&gz)
		tw := tar.NewWriter(io.MultiWriter(diff, zw))
		for _, e := range entries {
			h := &tar.Header{Name: e.name, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}
			switch {
			case e.dir:
				h.Typeflag = tar.TypeDir
			case e.link != "":
				h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.link, 0o777
			default:
				h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		diffIDs = append(diffIDs, digest.NewDigestFromBytes(digest.SHA256, diff.Sum(nil)))
		descs = append(descs, writeBlob(t, dir, ocispec.MediaTypeImageLayerGzip, gz.Bytes()))
	}
	cfg := ocispec.Image{
		Created:  &mtime,
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	cfgDesc := writeBlob(t, dir, ocispec.MediaTypeImageConfig, mustJSON(t, cfg))
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    descs,
	}
	mDesc := writeBlob(t, dir, ocispec.MediaTypeImageManifest, mustJSON(t, m))
	mDesc.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mDesc},
	}
	writeFile(t, filepath.Join(dir, ocispec.ImageIndexFile), mustJSON(t, idx))
	writeFile(t, filepath.Join(dir, ocispec.ImageLayoutFile), mustJSON(t, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}))
	blobs := []digest.Digest{mDesc.Digest, cfgDesc.Digest}
	for _, d := range descs {
		blobs = append(blobs, d.Digest)
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i] < blobs[j] })
	return image{dir: dir, manifest: mDesc.Digest, blobs: blobs}
}

func writeBlob(t *testing.T, dir, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	dgst := digest.FromBytes(b)
	writeFile(t, filepath.Join(dir, ocispec.ImageBlobsDir, dgst.Algorithm().String(), dgst.Encoded()), b)
	return ocispec.Descriptor{MediaType: mediaType, Digest: dgst, Size: int64(len(b))}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLayout re-hashes every blob of the OCI layout in dir and returns
// the digest of the manifest its index tags "v1" (or its only manifest)
// and the digests of the blobs that manifest needs, which must all be
// present.
func checkLayout(t *testing.T, dir string) (digest.Digest, []digest.Digest) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(dir, ocispec.ImageBlobsDir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want := digest.NewDigestFromEncoded(digest.Algorithm(filepath.Base(filepath.Dir(p))), d.Name())
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		v := want.Verifier()
		if _, err := io.Copy(v, f); err != nil {
			return err
		}
		if !v.Verified() {
			return fmt.Errorf("blob %s: content does not match its digest", want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pulled layout: %v", err)
	}
	var idx ocispec.Index
	readJSON(t, filepath.Join(dir, ocispec.ImageIndexFile), &idx)
	var mDesc *ocispec.Descriptor
	for i, d := range idx.Manifests {
		if len(idx.Manifests) == 1 || d.Annotations[ocispec.AnnotationRefName] == "v1" {
			mDesc = &idx.Manifests[i]
		}
	}
	if mDesc == nil {
		t.Fatalf("pulled layout: no manifest tagged v1 in %+v", idx.Manifests)
	}
	var m ocispec.Manifest
	readJSON(t, filepath.Join(dir, ocispec.ImageBlobsDir, mDesc.Digest.Algorithm().String(), mDesc.Digest.Encoded()), &m)
	blobs := []digest.Digest{mDesc.Digest, m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, b := range blobs[1:] {
		if _, err := os.Stat(filepath.Join(dir, ocispec.ImageBlobsDir, b.Algorithm().String(), b.Encoded())); err != nil {
			t.Fatalf("pulled layout: blob %s missing: %v", b, err)
		}
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i] < blobs[j] })
	return mDesc.Digest, blobs
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// requestLog wraps the real handler and remembers each request's method,
// URL and status, so a test can tell whether a client mounted a blob.
type requestLog struct {
	h  http.Handler
	mu sync.Mutex
	rs []string
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// ReadFrom keeps the registry's sendfile path for blob GETs.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (l *requestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	l.h.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	l.mu.Lock()
	l.rs = append(l.rs, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), sw.status))
	l.mu.Unlock()
}

// mounts counts the cross-repository mounts into repo that succeeded.
func (l *requestLog) mounts(repo string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.rs {
		if strings.HasPrefix(r, "POST /v2/"+repo+"/blobs/uploads/?") && strings.Contains(r, "mount=") && strings.HasSuffix(r, " 201") {
			n++
		}
	}
	return n
}

// startRegistry serves a fresh registry on a loopback httptest server,
// with htpasswd auth when user is not empty.
func startRegistry(t *testing.T, user, pass string) (host string, log *requestLog) {
	t.Helper()
	dir := t.TempDir()
	store, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	opts := registry.Options{AccessPolicy: registry.AccessPolicy{Delete: true}}
	if user != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(pass), 5)
		if err != nil {
			t.Fatal(err)
		}
		opts.HtpasswdPath = filepath.Join(dir, "htpasswd")
		writeFile(t, opts.HtpasswdPath, []byte(user+":"+string(h)+"\n"))
	}
	g, err := registry.New(store, filepath.Join(dir, "registry"), opts)
	if err != nil {
		t.Fatal(err)
	}
	log = &requestLog{h: g}
	srv := httptest.NewServer(log) // 127.0.0.1
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host, log
}

// client says how one tool does each step; every func returns argv
// without the binary. host is 127.0.0.1:port; refs are host/repo:tag.
type client struct {
	name  string
	setup func(host string) [][]string // run first (e.g. regctl's plain-HTTP setting)
	login func(host, user, pass string) []string
	push  func(layout, ref string) []string // from the layout's "v1"
	pull  func(ref, layout string) []string // into the layout as "v1"
	tag   func(ref, tag string) []string
	ls    func(repo string) []string
	tags  func(out []byte) ([]string, error) // parses ls's output
	copy  func(src, dst string) []string
	del   func(repoAtDigest string) []string
}

func lines(out []byte) ([]string, error) {
	var tags []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			tags = append(tags, l)
		}
	}
	return tags, nil
}

var clients = []client{
	{
		name:  "skopeo",
		login: func(h, u, p string) []string { return []string{"login", "--tls-verify=false", "-u", u, "-p", p, h} },
		push: func(l, r string) []string {
			return []string{"copy", "--dest-tls-verify=false", "oci:" + l + ":v1", "docker://" + r}
		},
		pull: func(r, l string) []string {
			return []string{"copy", "--src-tls-verify=false", "docker://" + r, "oci:" + l + ":v1"}
		},
		// skopeo has no tag verb: a copy within the repository moves no blob.
		tag: func(r, tag string) []string {
			return []string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://" + r, "docker://" + r[:strings.LastIndex(r, ":")] + ":" + tag}
		},
		ls: func(repo string) []string { return []string{"list-tags", "--tls-verify=false", "docker://" + repo} },
		tags: func(out []byte) ([]string, error) {
			var v struct{ Tags []string }
			err := json.Unmarshal(out, &v)
			return v.Tags, err
		},
		copy: func(s, d string) []string {
			return []string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://" + s, "docker://" + d}
		},
		del: func(r string) []string { return []string{"delete", "--tls-verify=false", "docker://" + r} },
	},
	{
		name:  "crane",
		login: func(h, u, p string) []string { return []string{"auth", "login", h, "-u", u, "-p", p} },
		push:  func(l, r string) []string { return []string{"push", "--insecure", l, r} },
		pull:  func(r, l string) []string { return []string{"pull", "--insecure", "--format=oci", r, l} },
		tag:   func(r, tag string) []string { return []string{"tag", "--insecure", r, tag} },
		ls:    func(repo string) []string { return []string{"ls", "--insecure", repo} },
		tags:  lines,
		copy:  func(s, d string) []string { return []string{"copy", "--insecure", s, d} },
		del:   func(r string) []string { return []string{"delete", "--insecure", r} },
	},
	{
		name:  "oras",
		login: func(h, u, p string) []string { return []string{"login", "--plain-http", "-u", u, "-p", p, h} },
		push: func(l, r string) []string {
			return []string{"cp", "--from-oci-layout", "--to-plain-http", l + ":v1", r}
		},
		pull: func(r, l string) []string {
			return []string{"cp", "--from-plain-http", "--to-oci-layout", r, l + ":v1"}
		},
		tag:  func(r, tag string) []string { return []string{"tag", "--plain-http", r, tag} },
		ls:   func(repo string) []string { return []string{"repo", "tags", "--plain-http", repo} },
		tags: lines,
		copy: func(s, d string) []string {
			return []string{"cp", "--from-plain-http", "--to-plain-http", s, d}
		},
		del: func(r string) []string { return []string{"manifest", "delete", "--plain-http", "--force", r} },
	},
	{
		name: "regctl",
		setup: func(h string) [][]string {
			return [][]string{{"registry", "set", "--skip-check", "--tls", "disabled", h}}
		},
		login: func(h, u, p string) []string { return []string{"registry", "login", "-u", u, "-p", p, h} },
		push:  func(l, r string) []string { return []string{"image", "copy", "ocidir://" + l + ":v1", r} },
		pull:  func(r, l string) []string { return []string{"image", "copy", r, "ocidir://" + l + ":v1"} },
		tag: func(r, tag string) []string {
			return []string{"image", "copy", r, r[:strings.LastIndex(r, ":")] + ":" + tag}
		},
		ls:   func(repo string) []string { return []string{"tag", "ls", repo} },
		tags: lines,
		copy: func(s, d string) []string { return []string{"image", "copy", s, d} },
		del:  func(r string) []string { return []string{"manifest", "delete", r} },
	},
}

// runner runs one client with its own HOME, so credentials and settings
// stay inside the test.
type runner struct {
	t   *testing.T
	bin string
	env []string
}

func newRunner(t *testing.T, bin string) *runner {
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"REGISTRY_AUTH_FILE=" + filepath.Join(home, "auth.json"),
		"XDG_RUNTIME_DIR=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"NO_PROXY=*", "no_proxy=*",
	}
	return &runner{t: t, bin: bin, env: env}
}

func (r *runner) run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.t.Logf("%s %s (%.2fs)", filepath.Base(r.bin), strings.Join(redact(args), " "), time.Since(start).Seconds())
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(r.bin), strings.Join(redact(args), " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

func (r *runner) must(args ...string) []byte {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "-p" {
			out[i] = "***"
		}
	}
	return out
}

func TestClients(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping real clients in -short mode")
	}
	img := writeImage(t, t.TempDir())
	for _, auth := range []bool{false, true} {
		mode := "anonymous"
		if auth {
			mode = "htpasswd"
		}
		t.Run(mode, func(t *testing.T) {
			for _, c := range clients {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					testClient(t, c, img, auth, startRegistry)
				})
			}
		})
	}
}

// startFunc serves a registry for one client test (startRegistry, or
// replicas behind a proxy).
type startFunc func(t *testing.T, user, pass string) (host string, log *requestLog)

func testClient(t *testing.T, c client, img image, auth bool, start startFunc) {
	bin := findClient(t, c.name)
	user, pass := "", ""
	if auth {
		user, pass = "alice", "s3cret-"+c.name
	}
	host, log := start(t, user, pass)
	r := newRunner(t, bin)
	if c.setup != nil {
		for _, args := range c.setup(host) {
			r.must(args...)
		}
	}
	src, dst := host+"/"+c.name+"/app", host+"/"+c.name+"/copy"

	if auth {
		// Before login, the registry turns the client away.
		if _, err := r.run(c.push(img.dir, src+":v1")...); err == nil {
			t.Fatalf("push without credentials succeeded against a registry with htpasswd")
		}
		r.must(c.login(host, user, pass)...)
	}

	r.must(c.push(img.dir, src+":v1")...)

	pulled := filepath.Join(t.TempDir(), "pulled")
	r.must(c.pull(src+":v1", pulled)...)
	gotManifest, gotBlobs := checkLayout(t, pulled)
	if gotManifest != img.manifest {
		t.Errorf("pulled manifest %s, want %s (the pushed bytes)", gotManifest, img.manifest)
	}
	if diff := cmp.Diff(img.blobs, gotBlobs); diff != "" {
		t.Errorf("pulled blobs (-want +got):\n%s", diff)
	}

	r.must(c.tag(src+":v1", "v2")...)
	gotTags, err := c.tags(r.must(c.ls(src)...))
	if err != nil {
		t.Fatalf("parse tags: %v", err)
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, gotTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	r.must(c.copy(src+":v1", dst+":v1")...)
	copied := filepath.Join(t.TempDir(), "copied")
	r.must(c.pull(dst+":v1", copied)...)
	if got, _ := checkLayout(t, copied); got != img.manifest {
		t.Errorf("copied manifest %s, want %s", got, img.manifest)
	}
	// Mounting is the client's choice; report it rather than require it.
	t.Logf("%s copy: %d of %d blobs mounted from %s", c.name, log.mounts(c.name+"/copy"), len(img.blobs)-1, c.name+"/app")

	r.must(c.del(src + "@" + img.manifest.String())...)
	if _, err := r.run(c.pull(src+":v1", filepath.Join(t.TempDir(), "gone"))...); err == nil {
		t.Errorf("pull of %s:v1 after deleting its manifest succeeded", src)
	}
	gotTags, err = c.tags(r.must(c.ls(dst)...))
	if err != nil {
		t.Fatalf("parse tags: %v", err)
	}
	if diff := cmp.Diff([]string{"v1"}, gotTags); diff != "" {
		t.Errorf("tags of the copy after deleting the source (-want +got):\n%s", diff)
	}
}
