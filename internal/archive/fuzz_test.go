package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz")

// applySeeds are the FuzzApply seeds: ordinary layers and the hostile cases.
func applySeeds() map[string][]byte {
	return map[string][]byte{
		"plain": testutil.NewTar().Dir("etc", 0o755).File("etc/passwd", []byte("root"), 0o644).
			Symlink("lib", "usr/lib").Hardlink("etc/pw", "etc/passwd").Bytes(),
		"whiteouts": testutil.NewTar().Dir("a", 0o755).File("a/b", []byte("b"), 0o644).
			Whiteout("a/b").Opaque("a").Whiteout("x").Bytes(),
		"dotdot":         testutil.NewTar().File("../x", []byte("x"), 0o644).Bytes(),
		"dotdot-inner":   testutil.NewTar().File("a/../../x", []byte("x"), 0o644).Bytes(),
		"symlink-abs":    testutil.NewTar().Symlink("evil", "/etc").File("evil/passwd", []byte("x"), 0o644).Bytes(),
		"symlink-up":     testutil.NewTar().Symlink("evil", "../../..").File("evil/x", []byte("x"), 0o644).Bytes(),
		"symlink-parent": testutil.NewTar().Symlink("evil", "..").File("evil/sentinel", []byte("x"), 0o644).Bytes(),
		"hardlink-abs":   testutil.NewTar().Hardlink("pw", "/etc/passwd").Bytes(),
		"hardlink-up":    testutil.NewTar().Hardlink("out", "../sentinel").Bytes(),
		"whiteout-up":    testutil.NewTar().File("../.wh.sentinel", nil, 0o644).Bytes(),
		"whiteout-link":  testutil.NewTar().Symlink("evil", "..").Whiteout("evil/sentinel").Bytes(),
		"opaque-link":    testutil.NewTar().Symlink("evil", "..").Opaque("evil").Bytes(),
		"root-retype":    testutil.NewTar().Symlink(".", "/").Bytes(),
		"root-dir":       testutil.NewTar().Dir(".", 0o777).Bytes(),
		"device": testutil.NewTar().Entry(&tar.Header{Typeflag: tar.TypeChar, Name: "null", Mode: 0o666,
			Devmajor: 1, Devminor: 3}, nil).Bytes(),
	}
}

func TestFuzzSeedsUpToDate(t *testing.T) {
	write := func(fuzzer, name string, values ...any) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			default:
				fmt.Fprintf(&b, "%T(%q)\n", v, v)
			}
		}
		p := filepath.Join("testdata", "fuzz", fuzzer, name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != b.String() {
			t.Errorf("%s is stale or missing (%v): run go test -run TestFuzzSeedsUpToDate -update", p, err)
		}
	}
	for name, b := range applySeeds() {
		write("FuzzApply", name, b)
	}
	for name, pair := range whiteoutSeeds {
		write("FuzzWhiteoutName", name, pair[0], pair[1])
	}
}

// outsideRoot lists everything in parent except under parent/root.
func outsideRoot(t testing.TB, parent string) []string {
	var out []string
	for _, p := range listAll(t, parent) {
		if !strings.HasPrefix(p, "/root/") && !strings.HasPrefix(p, "/root ") {
			out = append(out, p)
		}
	}
	return out
}

// sandbox makes parent/{sentinel,root} and returns parent and root.
func sandbox(t testing.TB) (string, string) {
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(parent, "outdir", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return parent, root
}

func checkOutside(t testing.TB, parent string, before []string) {
	t.Helper()
	if d := cmp.Diff(before, outsideRoot(t, parent)); d != "" {
		t.Fatalf("outside root changed (-want +got):\n%s", d)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "sentinel")); err != nil || string(b) != "untouched" {
		t.Fatalf("sentinel: %q, %v", b, err)
	}
}

// tooBig reports whether applying data could write much (sparse files
// declare any size), which would make a fuzz run slow, not wrong.
func tooBig(data []byte) bool {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			return false
		}
		if hdr.Size > 1<<20 {
			return true
		}
	}
}

// FuzzApply: whatever the tar, nothing outside root is created, removed or
// changed. Seed inputs are a few KiB, so run it with a short
// -fuzzminimizetime (say 2s); the default minute of minimizing shows as a
// stalled exec count.
func FuzzApply(f *testing.F) {
	for _, b := range applySeeds() {
		f.Add(b)
	}
	fuzzConfined(f, func(root string, data []byte) {
		Apply(context.Background(), root, bytes.NewReader(data), ApplyOptions{NoSameOwner: os.Geteuid() != 0})
	})
}

// FuzzApplyReuse: the same with files offered to Reuse, which takes
// every other offer by making the file itself at the directory fd and
// name it is given: those must lie inside root too.
func FuzzApplyReuse(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("Reuse is offered files only as root")
	}
	for _, b := range applySeeds() {
		f.Add(b)
	}
	fuzzConfined(f, func(root string, data []byte) {
		n := 0
		Apply(context.Background(), root, bytes.NewReader(data), ApplyOptions{
			FileDigest: func(string, *unix.Stat_t, digest.Digest) {},
			Reuse: func(dirfd int, name, _ string, st *unix.Stat_t, _ []byte, _ digest.Digest) bool {
				if n++; n%2 == 0 {
					return false
				}
				fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, st.Mode&0o777)
				if err != nil {
					return false
				}
				unix.Close(fd)
				return true
			},
		})
	})
}

// fuzzConfined runs apply on each input into a fresh root and fails if
// anything outside root changed, or root itself stopped being a directory
// (a root retyped by the layer would be a change outside too).
func fuzzConfined(f *testing.F, apply func(root string, data []byte)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if tooBig(data) {
			return
		}
		parent, root := sandbox(t)
		before := outsideRoot(t, parent)
		apply(root, data)
		checkOutside(t, parent, before)
		if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
			t.Fatalf("root is no longer a directory: %v", err)
		}
	})
}

// FuzzApplyOverlay: the same for ApplyOverlay into an upper dir (needs
// root: whiteouts are device nodes, opaque markers trusted xattrs).
func FuzzApplyOverlay(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("ApplyOverlay needs root")
	}
	for _, b := range applySeeds() {
		f.Add(b)
	}
	fuzzConfined(f, func(root string, data []byte) {
		ApplyOverlay(context.Background(), root, bytes.NewReader(data), ApplyOptions{})
	})
}

var whiteoutSeeds = map[string][2]string{
	"plain":      {"a", "b"},
	"dir":        {"", "a"},
	"dotdot":     {"", ".."},
	"dot":        {"a", "."},
	"up":         {"..", "sentinel"},
	"deep-up":    {"a/../..", "sentinel"},
	"slash":      {"a", "b/../../../sentinel"},
	"opaque":     {"a", ".wh..opq"},
	"aufs":       {"a", ".wh.plnk"},
	"abs":        {"/a", "b"},
	"empty":      {"", ""},
	"nul":        {"a", "b\x00c"},
	"linked-dir": {"l", "x"},
}

// FuzzWhiteoutName: a whiteout "DIR/.wh.NAME" removes DIR/NAME inside root
// when both are sane, and never anything outside.
func FuzzWhiteoutName(f *testing.F) {
	for _, s := range whiteoutSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, dir, name string) {
		parent, root := sandbox(t)
		setup := testutil.NewTar().Dir("a", 0o755).File("a/b", []byte("b"), 0o644).
			Dir("a/c", 0o755).File("a/c/d", []byte("d"), 0o644).File("x", []byte("x"), 0o644).
			Symlink("l", "..").Bytes()
		if _, err := Apply(context.Background(), root, bytes.NewReader(setup), ApplyOptions{NoSameOwner: true}); err != nil {
			t.Fatal(err)
		}
		before := outsideRoot(t, parent)
		entry := path.Join(dir, ".wh."+name)
		if strings.HasSuffix(entry, "/") || len(entry) > 1000 {
			return
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: entry, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
			return // a name tar cannot carry
		}
		tw.Close()
		_, err := Apply(context.Background(), root, &buf, ApplyOptions{NoSameOwner: true})
		checkOutside(t, parent, before)
		target, ok := cleanName(path.Join(dir, name))
		sane := ok && name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") &&
			!strings.HasPrefix(name, ".wh.") && target != "." && !strings.HasPrefix(target, "l/")
		if err == nil && sane {
			// Gone, or impossible: under a parent that is not a directory
			// (ENOTDIR) the target cannot exist either.
			if _, statErr := os.Lstat(filepath.Join(root, target)); !errors.Is(statErr, os.ErrNotExist) && !errors.Is(statErr, syscall.ENOTDIR) {
				t.Errorf("whiteout %q applied, but %s still exists (%v)", entry, target, statErr)
			}
		}
	})
}
