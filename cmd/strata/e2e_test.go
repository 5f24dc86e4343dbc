package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/testutil"
)

// strataBin is the binary built once for every end-to-end test.
var strataBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-e2e-")
	if err != nil {
		panic(err)
	}
	strataBin = filepath.Join(dir, "strata")
	// Static, as the Makefile builds it: the binary doubles as --init inside
	// images that have no libc.
	build := exec.Command("go", "build", "-o", strataBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build strata: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// strata runs the binary against root.
func strata(t *testing.T, root string, args ...string) result {
	t.Helper()
	cmd := exec.Command(strataBin, append([]string{"--root", root}, args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{so.String(), se.String(), code}
}

func mustStrata(t *testing.T, root string, args ...string) string {
	t.Helper()
	r := strata(t, root, args...)
	if r.code != 0 {
		t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestCLIImageVerbs(t *testing.T) {
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	id := strings.TrimSpace(mustStrata(t, root, "import", "-c", `CMD ["sh"]`, rootfs, "busybox"))
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("import printed %q, want an image ID", id)
	}
	mustStrata(t, root, "tag", "busybox", "localhost:5000/tools/bb:1")
	out := mustStrata(t, root, "images")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "REPOSITORY TAG IMAGE ID CREATED SIZE" || len(lines) != 3 {
		t.Errorf("images:\n%s", out)
	}
	if !strings.Contains(out, "localhost:5000/tools/bb   1         "+id[7:19]) {
		t.Errorf("images lacks the new tag:\n%s", out)
	}
	if q := mustStrata(t, root, "images", "-q"); strings.TrimSpace(q) != id[7:19] {
		t.Errorf("images -q = %q, want %s", q, id[7:19])
	}
	if f := mustStrata(t, root, "images", "--format", "{{.Repository}}:{{.Tag}}"); f != "busybox:latest\nlocalhost:5000/tools/bb:1\n" &&
		f != "localhost:5000/tools/bb:1\nbusybox:latest\n" {
		t.Errorf("images --format = %q", f)
	}
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.Id}}", "busybox")); got != id {
		t.Errorf("inspect --format {{.Id}} = %q, want %s", got, id)
	}
	hist := mustStrata(t, root, "history", "busybox")
	if !strings.HasPrefix(hist, "IMAGE          CREATED") || strings.Contains(hist, "<missing>") {
		t.Errorf("history:\n%s", hist)
	}
	if df := mustStrata(t, root, "system", "df", "-v"); !strings.Contains(df, "SHARED SIZE") {
		t.Errorf("df -v:\n%s", df)
	}
	if fsck := mustStrata(t, root, "system", "fsck"); !strings.Contains(fsck, "clean") {
		t.Errorf("fsck:\n%s", fsck)
	}
	// errors: one line, "Error: ", exit 1
	for _, args := range [][]string{{"inspect", "nosuch"}, {"tag", "busybox", "Bad Name"}, {"rmi", "nosuch:1"}, {"import", filepath.Join(t.TempDir(), "does/not/exist")}, {"import", "-c", "RUN echo", rootfs}} {
		r := strata(t, root, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("strata %v: exit %d, stderr %q; want one Error: line and exit 1", args, r.code, r.stderr)
		}
	}
	if r := strata(t, root, "import", "-c", "RUN echo", rootfs); !strings.Contains(r.stderr, `--change "RUN echo": run is not a valid change command (use CMD,`) {
		t.Errorf("import -c RUN: stderr %q, want docker's words, the change and what is accepted", r.stderr)
	}
	out = mustStrata(t, root, "rmi", "busybox", "localhost:5000/tools/bb:1")
	if !strings.Contains(out, "Untagged: busybox:latest") || !strings.Contains(out, "Deleted: "+id) {
		t.Errorf("rmi:\n%s", out)
	}
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Errorf("%d blobs left after removing the only image", len(blobs))
	}
}

func TestHelpExplainsEveryVerb(t *testing.T) {
	root := t.TempDir()
	for _, verb := range []string{"import", "images", "inspect", "tag", "rmi", "history", "system df", "system fsck", "image prune"} {
		out := mustStrata(t, root, append(strings.Fields(verb), "--help")...)
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "Usage:") {
			t.Errorf("strata %s --help has no usage or example:\n%s", verb, out)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--help touched the store: %v", entries)
	}
}

// bigRootfs makes a tree large enough that an import takes a while.
func bigRootfs(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "big")
	testutil.BusyboxRootfs(t, dir)
	buf := make([]byte, 1<<20)
	for d := 0; d < 8; d++ {
		sub := filepath.Join(dir, "data", fmt.Sprint(d))
		os.MkdirAll(sub, 0o755)
		for f := 0; f < 20; f++ {
			rand.Read(buf)
			os.WriteFile(filepath.Join(sub, fmt.Sprint(f)), buf, 0o644)
		}
	}
	return dir
}

// A kill -9 at any moment of import leaves a store fsck calls clean, and
// the next import works.
func TestKill9DuringImport(t *testing.T) {
	testutil.RequiresBusybox(t)
	root := t.TempDir()
	src := bigRootfs(t)
	for _, delay := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		// one store that has seen earlier kills, and one the killed
		// import was creating
		for _, r := range []string{root, t.TempDir()} {
			cmd := exec.Command(strataBin, "--root", r, "import", src, "victim")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay) // killing at varied moments is what is tested
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			res := strata(t, r, "system", "fsck")
			if res.code != 0 || !strings.Contains(res.stdout, "clean") {
				t.Fatalf("fsck after kill -9 at %s: exit %d\n%s%s", delay, res.code, res.stdout, res.stderr)
			}
			if r != root {
				mustStrata(t, r, "import", src, "next")
			}
		}
	}
	mustStrata(t, root, "import", src, "survivor")
	mustStrata(t, root, "system", "prune")
	r := strata(t, root, "system", "fsck")
	if r.code != 0 || strings.Contains(r.stdout, "note:") {
		t.Errorf("after prune, fsck still has notes or problems:\n%s", r.stdout)
	}
	if out := mustStrata(t, root, "images"); !strings.Contains(out, "survivor") {
		t.Errorf("images:\n%s", out)
	}
}

// Two processes tagging and removing the same image at once: each either
// succeeds or fails cleanly, and the store stays consistent.
func TestConcurrentProcesses(t *testing.T) {
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", rootfs, "base")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 6; i++ {
				var args []string
				switch (w + i) % 3 {
				case 0:
					args = []string{"tag", "base", fmt.Sprintf("copy:%d", w)}
				case 1:
					args = []string{"rmi", fmt.Sprintf("copy:%d", w)}
				default:
					args = []string{"import", rootfs, fmt.Sprintf("again:%d", w)}
				}
				r := strata(t, root, args...)
				if r.code != 0 && !strings.Contains(r.stderr, "No such image") && !strings.Contains(r.stderr, "no such image") {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%v: %s", args, r.stderr))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	if r := strata(t, root, "system", "fsck"); r.code != 0 {
		t.Errorf("fsck after concurrent work:\n%s%s", r.stdout, r.stderr)
	}
	if out := mustStrata(t, root, "images"); !strings.Contains(out, "base") {
		t.Errorf("base image lost:\n%s", out)
	}
}

func TestReadOnlyStore(t *testing.T) {
	testutil.RequiresRoot(t)
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	ro := filepath.Join(t.TempDir(), "ro")
	os.MkdirAll(ro, 0o755)
	if err := syscall.Mount("tmpfs", ro, "tmpfs", syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot mount a read-only tmpfs: %v", err)
	}
	defer syscall.Unmount(ro, syscall.MNT_DETACH)
	r := strata(t, filepath.Join(ro, "store"), "import", rootfs, "x")
	if r.code != 1 || !strings.Contains(r.stderr, "read-only") {
		t.Errorf("import into a read-only store: exit %d %q", r.code, r.stderr)
	}
	_ = root
}

// A store that fills up mid-import fails clearly and stays as it was.
func TestImportIntoFullStore(t *testing.T) {
	testutil.RequiresRoot(t)
	src := bigRootfs(t) // 160 MiB of random data
	small := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(small, 0o755)
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=24m"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	defer syscall.Unmount(small, syscall.MNT_DETACH)
	root := filepath.Join(small, "store")
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", rootfs, "fits")
	before := mustStrata(t, root, "images", "--format", "{{.Repository}} {{.ID}}")
	r := strata(t, root, "import", src, "toobig")
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("import into a full store: exit %d, %q", r.code, r.stderr)
	}
	if after := mustStrata(t, root, "images", "--format", "{{.Repository}} {{.ID}}"); after != before {
		t.Errorf("images changed: before %q after %q", before, after)
	}
	if r := strata(t, root, "system", "fsck"); r.code != 0 {
		t.Errorf("fsck after a full disk:\n%s%s", r.stdout, r.stderr)
	}
	// the space comes back and the store works on
	mustStrata(t, root, "system", "prune")
	mustStrata(t, root, "import", rootfs, "again")
}
