package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/testutil"
)

// richTree makes a tree with every kind of entry WriteDir records.
func richTree(t *testing.T) string {
	t.Helper()
	f := fixture{t, t.TempDir()}
	f.dir("bin", 0o755)
	f.file("bin/su", "setuid", 0o4755)
	f.file("bin/wall", "setgid", 0o2711)
	f.dir("tmp", 0o1777)
	f.dir("srv/shared", 0o2775)
	f.chown("srv/shared", 1000, 1001)
	f.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	f.file("etc/shadow", "root:*::0:::::\n", 0o600)
	f.chown("etc/shadow", 0, 42)
	f.file("home/u/.profile", "export PS1='$ '\n", 0o640)
	f.chown("home/u/.profile", 1000, 1000)
	f.chown("home/u", 1000, 1000)
	f.file("empty", "", 0o644)
	f.symlink("lib", "usr/lib")
	f.dir("usr/lib", 0o755)
	f.symlink("usr/lib/abs", "/etc/passwd")
	f.symlink("dangling", "../../nowhere")
	f.file("usr/lib/libc.so", strings.Repeat("ELF", 10000), 0o755)
	f.must(os.Link(f.path("usr/lib/libc.so"), f.path("usr/lib/libc.so.6")))
	f.must(os.Link(f.path("usr/lib/libc.so"), f.path("bin/libc-copy")))
	f.must(unix.Mkfifo(f.path("fifo"), 0o620))
	f.dir("dev", 0o755)
	f.must(unix.Mknod(f.path("dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	f.must(unix.Mknod(f.path("dev/loop0"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 0))))
	f.xattr("bin/su", "security.capability", "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	f.xattr("etc/passwd", "user.note", "hello")
	f.xattr("srv/shared", "trusted.md5", "abc")
	f.xattr("srv/shared", "trusted.overlay.opaque", "y") // skipped by WriteDir
	f.chown("lib", 7, 8)
	f.stamp()
	return f.root
}

func TestWriteDirApplyRoundTrip(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	src := richTree(t)
	var buf bytes.Buffer
	if err := WriteDir(ctx, &buf, src, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WriteDir(ctx, &again, src, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("WriteDir of the same tree gave different bytes")
	}
	dst := t.TempDir()
	n, err := Apply(ctx, dst, bytes.NewReader(buf.Bytes()), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Apply read %d bytes, want %d", n, buf.Len())
	}
	want := readTree(t, src)
	if diff := cmp.Diff(want, readTree(t, dst)); diff != "" {
		t.Errorf("tree after round trip (-want +got):\n%s", diff)
	}
	if want["srv/shared"].Mode != 0o2775 || want["bin/su"].Mode != 0o4755 || want["tmp"].Mode != 0o1777 {
		t.Errorf("fixture lost its special bits: %+v", want)
	}
	if _, ok := want["srv/shared"].Xattrs["trusted.overlay.opaque"]; ok {
		t.Error("readTree should skip trusted.overlay.*")
	}
	// WriteDir must not record trusted.overlay.* either.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if _, ok := hdr.PAXRecords[paxXattr+"trusted.overlay.opaque"]; ok {
			t.Errorf("%s: trusted.overlay.opaque recorded", hdr.Name)
		}
	}
}

func TestWriteDirOptions(t *testing.T) {
	f := fixture{t, t.TempDir()}
	f.file("a", "x", 0o644)
	f.file("b", "y", 0o644)
	f.chown("a", 5, 6)
	f.stamp()
	epoch := fixedTime.Add(-time24h)
	var buf bytes.Buffer
	if err := WriteDir(context.Background(), &buf, f.root, WriteOptions{SourceDateEpoch: &epoch, NormalizeOwner: true}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var got []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: uid %d gid %d uname %q mtime %v, want 0 0 \"\" %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.ModTime, epoch)
		}
		got = append(got, hdr.Name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

const time24h = 24 * 60 * 60 * 1e9

func TestApplyWhiteoutsAndReplace(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	base := testutil.NewTar().
		Dir("etc", 0o755).
		File("etc/motd", []byte("hi"), 0o644).
		File("etc/keep", []byte("k"), 0o644).
		Dir("var/cache/apt", 0o755).
		File("var/cache/apt/pkg", []byte("p"), 0o644).
		File("var/cache/old", []byte("o"), 0o644).
		Dir("var/cache/sub", 0o755).
		File("var/cache/sub/a", []byte("a"), 0o644).
		File("var/cache/sub/b", []byte("b"), 0o644).
		Dir("d2f", 0o755).
		File("d2f/child", []byte("c"), 0o644).
		File("f2d", []byte("f"), 0o644).
		Symlink("s2f", "etc").
		Dir("gone", 0o755).
		File("gone/deep/x", []byte("x"), 0o644)
	layer := testutil.NewTar().
		Whiteout("etc/motd").
		Whiteout("gone").
		Whiteout("never/existed").
		File("var/cache/sub/a", []byte("A2"), 0o600). // written before the marker: kept
		Opaque("var/cache").
		File("var/cache/new", []byte("n"), 0o644).
		File("d2f", []byte("now a file"), 0o644).
		Dir("f2d", 0o700).
		File("s2f", []byte("not a link"), 0o644).
		Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "/abs/name", Mode: 0o644}, []byte("abs")).
		Dir("etc", 0o711)
	root := t.TempDir()
	for _, r := range []*testutil.Tar{base, layer} {
		if _, err := Apply(ctx, root, r.Reader(), ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tree := readTree(t, root)
	var got []string
	for p, n := range tree {
		got = append(got, p+" "+n.Type)
	}
	want := []string{
		"abs dir", "abs/name file",
		"d2f file", "etc dir", "etc/keep file", "f2d dir", "s2f file",
		"var dir", "var/cache dir", "var/cache/new file", "var/cache/sub dir", "var/cache/sub/a file",
	}
	if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if tree["etc"].Mode != 0o711 {
		t.Errorf("etc mode %o, want 711 (dir over dir takes new metadata)", tree["etc"].Mode)
	}
	if tree["etc"].Mtime != testutil.TarModTime.Unix() {
		t.Errorf("etc mtime %d, want the tar's", tree["etc"].Mtime)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	slices.Sort(out)
	return out
})

func TestApplyHostile(t *testing.T) {
	testutil.RequiresRoot(t)
	tests := []struct {
		name string
		tar  *testutil.Tar
		kind error // nil: any error
	}{
		{"dotdot", testutil.NewTar().File("../x", []byte("pwned"), 0o644), errdefs.ErrInvalidArgument},
		{"dotdot inside", testutil.NewTar().File("a/../../x", []byte("pwned"), 0o644), errdefs.ErrInvalidArgument},
		{"absolute dotdot", testutil.NewTar().File("/../x", []byte("pwned"), 0o644), errdefs.ErrInvalidArgument},
		{"symlink to absolute dir", testutil.NewTar().Symlink("evil", "/etc").File("evil/passwd", []byte("pwned"), 0o644), errdefs.ErrInvalidArgument},
		{"symlink to parent", testutil.NewTar().Symlink("evil", "../../..").File("evil/x", []byte("pwned"), 0o644), errdefs.ErrInvalidArgument},
		{"symlink to sentinel dir", testutil.NewTar().Symlink("evil", "..").File("evil/sentinel", []byte("pwned"), 0o644), errdefs.ErrInvalidArgument},
		{"symlink chain", testutil.NewTar().Symlink("a", "b").Symlink("b", "../").Dir("a/x", 0o755), errdefs.ErrInvalidArgument},
		{"dir through symlink", testutil.NewTar().Symlink("evil", "..").Dir("evil/newdir", 0o755), errdefs.ErrInvalidArgument},
		{"hardlink to etc passwd", testutil.NewTar().Hardlink("pw", "/etc/passwd"), nil},
		{"hardlink outside", testutil.NewTar().Hardlink("out", "../sentinel"), errdefs.ErrInvalidArgument},
		{"hardlink through symlink", testutil.NewTar().Symlink("evil", "..").Hardlink("out", "evil/sentinel"), errdefs.ErrInvalidArgument},
		{"whiteout traversal", testutil.NewTar().File("../.wh.sentinel", nil, 0o644), errdefs.ErrInvalidArgument},
		{"whiteout through symlink", testutil.NewTar().Symlink("evil", "..").File("evil/.wh.sentinel", nil, 0o644), errdefs.ErrInvalidArgument},
		{"whiteout of dotdot", testutil.NewTar().File(".wh..", nil, 0o644), errdefs.ErrInvalidArgument},
		{"whiteout of dotdot in dir", testutil.NewTar().Dir("a", 0o755).File("a/.wh..", nil, 0o644), errdefs.ErrInvalidArgument},
		{"opaque through symlink", testutil.NewTar().Symlink("evil", "..").Opaque("evil"), errdefs.ErrInvalidArgument},
		{"root as symlink", testutil.NewTar().Symlink(".", "/etc"), errdefs.ErrInvalidArgument},
		{"root as file", testutil.NewTar().File(".", []byte("x"), 0o644), errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			sentinel := filepath.Join(parent, "sentinel")
			if err := os.WriteFile(sentinel, []byte("untouched"), 0o644); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(parent, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			before := listAll(t, parent)
			_, err := Apply(context.Background(), root, tt.tar.Reader(), ApplyOptions{})
			if err == nil {
				t.Fatal("Apply succeeded, want an error")
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), "entry ") {
				t.Errorf("error %q does not name the entry", err)
			}
			if b, _ := os.ReadFile(sentinel); string(b) != "untouched" {
				t.Errorf("sentinel now %q", b)
			}
			after := listAll(t, parent)
			var outside []string
			for _, p := range after {
				if !strings.HasPrefix(p, "/root") {
					outside = append(outside, p)
				}
			}
			var wantOutside []string
			for _, p := range before {
				if !strings.HasPrefix(p, "/root") {
					wantOutside = append(wantOutside, p)
				}
			}
			if diff := cmp.Diff(wantOutside, outside); diff != "" {
				t.Errorf("outside root (-want +got):\n%s", diff)
			}
			if _, err := os.Stat("/etc/passwd"); err != nil {
				t.Errorf("/etc/passwd: %v", err)
			}
		})
	}
}

func TestApplyRelativeSymlinkParent(t *testing.T) {
	// Merged-/usr images write through "lib -> usr/lib"; links that stay
	// inside root are followed.
	root := t.TempDir()
	tb := testutil.NewTar().Dir("usr/lib", 0o755).Symlink("lib", "usr/lib").File("lib/libx.so", []byte("x"), 0o644)
	if _, err := Apply(context.Background(), root, tb.Reader(), ApplyOptions{NoSameOwner: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/lib/libx.so")); err != nil || string(b) != "x" {
		t.Errorf("usr/lib/libx.so = %q, %v", b, err)
	}
}

func TestApplyDeviceNotRoot(t *testing.T) {
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	dev := func() *testutil.Tar {
		return testutil.NewTar().Entry(&tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}, nil).File("after", []byte("a"), 0o644)
	}
	root := t.TempDir()
	_, err := Apply(context.Background(), root, dev().Reader(), ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), `"dev/null"`) {
		t.Errorf("got %v, want an error naming dev/null", err)
	}
	root = t.TempDir()
	if _, err := Apply(context.Background(), root, dev().Reader(), ApplyOptions{NoSameOwner: true}); err != nil {
		t.Fatalf("with NoSameOwner: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); !os.IsNotExist(err) {
		t.Errorf("dev/null: %v, want skipped", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "after")); err != nil {
		t.Errorf("entry after the device: %v", err)
	}
}

func TestApplyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, t.TempDir(), testutil.NewTar().File("a", []byte("x"), 0o644).Reader(), ApplyOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestWriteDirSkipsSockets(t *testing.T) {
	f := fixture{t, t.TempDir()}
	f.file("a", "x", 0o644)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: f.path("sock")}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteDir(context.Background(), &buf, f.root, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a"}, tarEntries(t, buf.Bytes())); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteDir(ctx, io.Discard, f.root, WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled WriteDir: got %v, want context.Canceled", err)
	}
}
