package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func requiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("test mounts filesystems and needs root (euid 0)")
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 0:45 /sub /mnt/with\040space rw,nosuid - overlay overlay rw,lowerdir=/a:/b,upperdir=/u,workdir=/w
37 22 0:46 / /mnt/opt rw shared:2 master:1 - tmpfs tmpfs rw
`
	got, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{ID: 22, Parent: 1, Major: 8, Minor: 1, Root: "/", Mountpoint: "/", Options: "rw,relatime", FSType: "ext4", Source: "/dev/sda1", SuperOptions: "rw"},
		{ID: 36, Parent: 22, Major: 0, Minor: 45, Root: "/sub", Mountpoint: "/mnt/with space", Options: "rw,nosuid", FSType: "overlay", Source: "overlay", SuperOptions: "rw,lowerdir=/a:/b,upperdir=/u,workdir=/w"},
		{ID: 37, Parent: 22, Major: 0, Minor: 46, Root: "/", Mountpoint: "/mnt/opt", Options: "rw", FSType: "tmpfs", Source: "tmpfs", SuperOptions: "rw"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMountinfo (-want +got):\n%s", diff)
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("parseMountinfo accepted a line with no separator")
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want options
	}{
		{"empty", nil, options{}},
		{"rbind ro", []string{"rbind", "ro"}, options{flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY}},
		{"rw clears ro", []string{"ro", "rw", "nosuid"}, options{flags: unix.MS_NOSUID}},
		{"data kept in order", []string{"index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"}, options{data: "index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b"}},
		{"propagation", []string{"bind", "rprivate"}, options{flags: unix.MS_BIND, propagation: unix.MS_PRIVATE | unix.MS_REC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseOptions(tt.opts)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("parseOptions(%q) (-want +got):\n%s", tt.opts, diff)
			}
		})
	}
}

func TestCompactLowerdir(t *testing.T) {
	dir, data, err := compactLowerdir("index=off,upperdir=/r/snapshots/3/fs,lowerdir=/r/snapshots/2/fs:/r/snapshots/1/fs")
	if err != nil {
		t.Fatal(err)
	}
	if dir != "/r/snapshots" || data != "index=off,upperdir=/r/snapshots/3/fs,lowerdir=2/fs:1/fs" {
		t.Errorf("got %q %q, want /r/snapshots and relative lowerdir", dir, data)
	}
	if _, _, err := compactLowerdir("lowerdir=/a/x:/b/y"); err == nil {
		t.Error("compactLowerdir accepted lower dirs with no common parent")
	}
}

func TestBindMountReadOnly(t *testing.T) {
	requiresRoot(t)
	src, target := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := All([]Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnmountAll(target, 0) })
	if b, err := os.ReadFile(filepath.Join(target, "f")); err != nil || string(b) != "x" {
		t.Fatalf("read through bind mount: %q, %v", b, err)
	}
	err := os.WriteFile(filepath.Join(target, "g"), nil, 0o644)
	if !errors.Is(err, unix.EROFS) {
		t.Errorf("write to read-only bind: got %v, want EROFS", err)
	}
	under, err := MountedUnder(target)
	if err != nil || len(under) != 1 {
		t.Fatalf("MountedUnder(%s) = %v, %v; want one mount", target, under, err)
	}
	info, err := Lookup(filepath.Join(target, "f"))
	if err != nil || info.Mountpoint != under[0] {
		t.Errorf("Lookup = %+v, %v; want mount point %s", info, err, under[0])
	}
	if err := UnmountAll(target, 0); err != nil {
		t.Fatal(err)
	}
	if under, _ := MountedUnder(target); len(under) != 0 {
		t.Errorf("still mounted after UnmountAll: %v", under)
	}
	if err := UnmountAll(filepath.Join(target, "missing"), 0); err != nil {
		t.Errorf("UnmountAll of a missing path: %v", err)
	}
}

// TestOverlayManyLowers mounts an overlay whose absolute lowerdir list is
// longer than a page, which only works through the relative-path thread.
func TestOverlayManyLowers(t *testing.T) {
	requiresRoot(t)
	if err := OverlaySupported(t.TempDir()); err != nil {
		t.Skipf("overlay not supported: %v", err)
	}
	root := filepath.Join(t.TempDir(), "a-rather-long-directory-name-to-make-the-options-long")
	const n = 200
	var lowers []string
	for i := range n {
		d := filepath.Join(root, fmt.Sprint(i), "fs")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprint("file", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		lowers = append([]string{d}, lowers...)
	}
	upper, work, target := filepath.Join(root, "upper"), filepath.Join(root, "work"), t.TempDir()
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := []string{"workdir=" + work, "upperdir=" + upper, "lowerdir=" + strings.Join(lowers, ":")}
	if l := len(strings.Join(opts, ",")); l < os.Getpagesize() {
		t.Fatalf("options are only %d bytes; the test needs more than a page", l)
	}
	if err := All([]Mount{{Type: "overlay", Source: "overlay", Options: opts}}, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnmountAll(target, 0) })
	ents, err := os.ReadDir(target)
	if err != nil || len(ents) != n {
		t.Fatalf("read merged dir: %d entries, %v; want %d", len(ents), err, n)
	}
	wd, _ := os.Getwd()
	if wd == root {
		t.Errorf("process working directory changed to %s", wd)
	}
}
