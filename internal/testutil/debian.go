package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// DebianRootfs returns a Debian bookworm root filesystem made by
// "debootstrap --variant=minbase" from the machine's Debian mirror, made
// once per machine under $STRATA_TEST_CACHE (default
// /var/cache/strata-test) and shared by every test (read it, never write
// it). It skips without root, debootstrap or a mirror.
func DebianRootfs(t testing.TB) string {
	t.Helper()
	RequiresRoot(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("needs debootstrap (scripts/setup.sh installs it)")
	}
	mirror := DebianMirror()
	if mirror == "" {
		t.Skip("no http Debian mirror in the apt sources")
	}
	cache := os.Getenv("STRATA_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/strata-test"
	}
	dir := filepath.Join(cache, "debian-minbase")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	// One debootstrap at a time, machine-wide: parallel test binaries wait.
	lock, err := os.OpenFile(filepath.Join(cache, ".debian.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "bash")); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	out, err := exec.Command("debootstrap", "--variant=minbase", "bookworm", tmp, mirror).CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap from %s: %v\n%s", mirror, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// DebianMirror is the first http Debian mirror of the apt sources (the
// one-line and deb822 forms), e.g. "http://deb.debian.org/debian"; "" if
// none. Commented lines are skipped.
func DebianMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	for _, f := range append([]string{"/etc/apt/sources.list"}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "#") {
				continue
			}
			for _, w := range strings.Fields(line) {
				if strings.HasPrefix(w, "http://") && strings.Contains(w, "debian") && !strings.Contains(w, "security") {
					return strings.TrimSuffix(w, "/")
				}
			}
		}
	}
	return ""
}

// DebianMirrorHost is DebianMirror's host name.
func DebianMirrorHost() string {
	m := strings.TrimPrefix(DebianMirror(), "http://")
	host, _, _ := strings.Cut(m, "/")
	return host
}
