package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/strata-project/strata/internal/testutil"
)

// strataBin is the binary TestMain builds.
var strataBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "strata-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer testutil.StopPostgres() // if a test started the package's cluster
	strataBin = filepath.Join(dir, "strata")
	cmd := exec.Command("go", "build", "-o", strataBin, "github.com/strata-project/strata/cmd/strata")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/strata: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// user is one person's strata: a store and a docker config of their own.
type user struct {
	root   string   // $STRATA_ROOT
	config string   // $DOCKER_CONFIG
	env    []string // more environment for its commands
}

// newUser skips unless root and makes a fresh store and config dir.
func newUser(t *testing.T) *user {
	t.Helper()
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	u := &user{root: filepath.Join(dir, "root"), config: filepath.Join(dir, "docker")}
	t.Cleanup(func() {
		// Containers and views may have left mounts under the store.
		unmountUnder(u.root)
	})
	return u
}

// result is what one strata command did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("strata %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs strata with args and stdin (may be nil).
func (u *user) run(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.Command(strataBin, args...)
	cmd.Env = append(append(os.Environ(), "STRATA_ROOT="+u.root, "DOCKER_CONFIG="+u.config, "HOME="+u.config), u.env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// ok runs strata and fails the test unless it exits 0.
func (u *user) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := u.run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// fails runs strata, wants exit 1 and "Error: " followed by every want on stderr.
func (u *user) fails(t *testing.T, stdin io.Reader, wants []string, args ...string) result {
	t.Helper()
	r := u.run(t, stdin, args...)
	if r.code != 1 {
		t.Fatalf("want exit 1, got %v", r)
	}
	msg, ok := strings.CutPrefix(lastLine(r.stderr), "Error: ")
	if !ok {
		t.Fatalf("stderr does not end in one \"Error: \" line: %v", r)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// fsckClean checks that `strata system fsck` calls the store clean.
func (u *user) fsckClean(t *testing.T) {
	t.Helper()
	r := u.ok(t, "system", "fsck")
	if !strings.Contains(r.stdout, ": clean") {
		t.Errorf("fsck is not clean: %v", r)
	}
}

// inspect returns a Go template's value for an image.
func (u *user) inspect(t *testing.T, format, image string) string {
	t.Helper()
	return strings.TrimSpace(u.ok(t, "inspect", "--format", format, image).stdout)
}

// baseImage imports a busybox root filesystem as name and builds app on
// it: FROM name, then a COPY of one file (/hello, saying hello), so app
// shares its first layer with name and adds one.
func (u *user) baseImage(t *testing.T, name, app string) {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	u.ok(t, "import", "--change", `CMD ["/bin/sh"]`, rootfs, name)
	ctx := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM " + name + "\nCOPY hello /hello\nCMD [\"cat\", \"/hello\"]\n",
		"hello":      "hello from " + app + "\n",
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(ctx, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u.ok(t, "build", "-q", "-t", app, ctx)
}

// lines returns the lines of s that match the regular expression re.
func lines(s, re string) []string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// wantLine fails unless some line of s matches re (anchored), and returns
// its submatches.
func wantLine(t *testing.T, r result, s, re string) []string {
	t.Helper()
	rx := regexp.MustCompile("^" + re + "$")
	for _, l := range strings.Split(s, "\n") {
		if m := rx.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	t.Fatalf("no line matches %q in %v", re, r)
	return nil
}

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeHtpasswd writes a bcrypt htpasswd file for user:pass.
func writeHtpasswd(t *testing.T, name, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(name+":"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve starts a server process, waits until addr accepts connections and
// stops it (SIGTERM, then SIGKILL) by its pid when the test ends.
func serve(t *testing.T, addr string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	logPath := filepath.Join(t.TempDir(), "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	if !testutil.Poll(testutil.Patience, func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited before listening on %s:\n%s", name, addr, b)
		default:
		}
		return testutil.Accepts(addr)
	}) {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%s not listening on %s after %v:\n%s", name, addr, testutil.Patience, b)
	}
}

// unmountUnder lazily unmounts everything mounted below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var targets []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			targets = append(targets, f[1])
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		syscall.Unmount(targets[i], syscall.MNT_DETACH)
	}
}
