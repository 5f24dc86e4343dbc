package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/snapshot/native"
	"github.com/strata-project/strata/internal/snapshot/overlay"
	"github.com/strata-project/strata/internal/testutil"
)

func newOverlay(t *testing.T) *overlay.Snapshotter {
	t.Helper()
	testutil.RequiresRoot(t)
	sn, err := overlay.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// stageLayers is the chain of test layers: every whiteout and opaque case
// ApplyOverlay turns into overlay's own markers.
func stageLayers() [][]byte {
	base := testutil.NewTar().
		Entry(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o750, Uid: 1, Gid: 2}, nil).
		Dir("etc", 0o755).File("etc/passwd", []byte("root:x:0:0\n"), 0o644).
		File("etc/gone", []byte("x"), 0o600).
		Dir("usr", 0o755).Dir("usr/lib", 0o755).File("usr/lib/a.so", []byte("a"), 0o755).
		Symlink("lib", "usr/lib").
		Dir("d", 0o700).File("d/old1", []byte("1"), 0o644).Dir("d/sub", 0o755).File("d/sub/x", []byte("x"), 0o644).
		Dir("r", 0o755).File("r/old", []byte("old"), 0o644).
		Dir("f2d", 0o755).File("f2d/file", []byte("file"), 0o644).
		Dir("d2f", 0o755).Dir("d2f/dir", 0o755).File("d2f/dir/y", []byte("y"), 0o644).
		Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "own", Mode: 0o4755, Uid: 7, Gid: 8}, []byte("suid")).
		Bytes()
	// No "." entry: the root keeps the base's owner and mode.
	mid := testutil.NewTar().
		Dir("etc", 0o755).Whiteout("etc/gone").File("etc/new", []byte("new"), 0o644).
		Dir("d", 0o711).Opaque("d").File("d/fresh", []byte("fresh"), 0o644).
		Whiteout("r").Dir("r", 0o755).File("r/new", []byte("new"), 0o644).
		Dir("f2d", 0o755).Dir("f2d/file", 0o755).File("f2d/file/in", []byte("in"), 0o644).
		Dir("d2f", 0o755).File("d2f/dir", []byte("now a file"), 0o644).
		File("hl-src", []byte("shared"), 0o644).Hardlink("hl-dst", "hl-src").
		Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "x-attr", Mode: 0o644, PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, []byte("xa")).
		Bytes()
	top := testutil.NewTar().
		Dir("etc", 0o755).Whiteout("etc/new").
		Dir("usr", 0o755).Dir("usr/lib", 0o755).Whiteout("usr/lib/a.so").File("usr/lib/b.so", []byte("b"), 0o755).
		Whiteout("hl-dst").
		Bytes()
	// Entries that meet what the same layer wrote before: a file written
	// twice, a file then a directory of that name, a directory of files
	// then a file of its name, a whiteout and a hardlink of new files.
	busy := testutil.NewTar().Dir("many", 0o755)
	for i := range 200 {
		busy.File(fmt.Sprintf("many/f%03d", i), []byte(strings.Repeat("x", i*97)), 0o640)
	}
	busy.File("twice", []byte("1"), 0o644).File("twice", []byte("22"), 0o600).
		File("f2dir", []byte("x"), 0o644).Dir("f2dir", 0o751).File("f2dir/in", []byte("in"), 0o644).
		Dir("d2file", 0o755).File("d2file/a", []byte("a"), 0o644).File("d2file/b", []byte("b"), 0o644).
		File("d2file", []byte("now a file"), 0o644).
		File("wh-me", []byte("x"), 0o644).Whiteout("wh-me").
		File("ln-src", []byte("s"), 0o644).Hardlink("ln-dst", "ln-src").
		File("many/f000", []byte("rewritten"), 0o644)
	return [][]byte{base, mid, top, busy.Bytes()}
}

// TestStageMatchesUnpack unpacks the same chain twice on overlay: layer by
// layer onto the merged mount (Unpack), and every layer on its own at once
// (Stage) then stacked in order; the mounted results must be equal.
func TestStageMatchesUnpack(t *testing.T) {
	ctx := context.Background()
	layers := stageLayers()

	serial := newOverlay(t)
	parent := unpackChain(t, serial, layers)
	want := viewTree(t, serial, parent)

	staged := newOverlay(t)
	if !CanStage(staged) {
		t.Fatal("overlay cannot stage")
	}
	stages := make([]*Staged, len(layers))
	errs := make(chan error, len(layers))
	for i, l := range layers {
		go func() {
			var err error
			stages[i], err = Stage(ctx, staged, bytes.NewReader(l), UnpackOptions{Expect: digest.FromBytes(l)})
			errs <- err
		}()
	}
	for range layers {
		if err := <-errs; err != nil {
			t.Fatalf("Stage: %v", err)
		}
	}
	var top digest.Digest
	for i, s := range stages {
		u, err := s.Commit(ctx, top)
		if err != nil {
			t.Fatalf("Commit layer %d: %v", i, err)
		}
		top = u.ChainID
	}
	if top != parent {
		t.Fatalf("staged chain %s, unpacked chain %s", top, parent)
	}
	got := viewTree(t, staged, top)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("staged layers differ from unpacked ones (-unpack +stage):\n%s", diff)
	}
	for _, p := range []string{"etc/gone", "etc/new", "d/old1", "d/sub", "r/old", "usr/lib/a.so", "hl-dst"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s should be gone", p)
		}
	}
	if got["."] != "d 750 1:2" {
		t.Errorf("root is %q, want the base's owner and mode", got["."])
	}
	assertNoActive(t, staged)

	// Staging a chain that exists already keeps the existing snapshots.
	s, err := Stage(ctx, staged, bytes.NewReader(layers[0]), UnpackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, ""); err != nil {
		t.Fatalf("Commit of an existing chain: %v", err)
	}
	assertNoActive(t, staged)
}

// TestStageNeedsLower: what only the lower layers can resolve is refused
// with ErrNeedsLower (the caller then unpacks it onto its parent), and no
// snapshot is left.
func TestStageNeedsLower(t *testing.T) {
	ctx := context.Background()
	sn := newOverlay(t)
	cases := map[string][]byte{
		"parent from a lower layer": testutil.NewTar().File("lib/c.so", []byte("c"), 0o644).Bytes(),
		"hardlink to a lower file":  testutil.NewTar().Hardlink("pw", "etc/passwd").Bytes(),
		"opaque of a lower dir":     testutil.NewTar().Opaque("etc").Bytes(),
		"whiteout in a lower dir":   testutil.NewTar().Whiteout("etc/passwd").Bytes(),
		"overlay xattr": testutil.NewTar().Entry(&tar.Header{Typeflag: tar.TypeDir, Name: "o/", Mode: 0o755,
			PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc"}}, nil).Bytes(),
		"device 0/0": testutil.NewTar().Entry(&tar.Header{Typeflag: tar.TypeChar, Name: "wh", Mode: 0o600}, nil).Bytes(),
	}
	for name, l := range cases {
		if _, err := Stage(ctx, sn, bytes.NewReader(l), UnpackOptions{}); !errors.Is(err, archive.ErrNeedsLower) {
			t.Errorf("%s: Stage = %v, want ErrNeedsLower", name, err)
		}
	}
	assertNoActive(t, sn)
}

// TestStageRefuses: hostile entries and a wrong diffID are refused as
// Unpack refuses them, and nothing is left.
func TestStageRefuses(t *testing.T) {
	ctx := context.Background()
	sn := newOverlay(t)
	for name, l := range map[string][]byte{
		"dot-dot":         testutil.NewTar().File("../x", []byte("x"), 0o644).Bytes(),
		"through symlink": testutil.NewTar().Symlink("e", "/etc").File("e/passwd", []byte("x"), 0o644).Bytes(),
		"hardlink out":    testutil.NewTar().Hardlink("x", "../../etc/passwd").Bytes(),
	} {
		if _, err := Stage(ctx, sn, bytes.NewReader(l), UnpackOptions{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: Stage = %v, want ErrInvalidArgument", name, err)
		}
	}
	l := testutil.NewTar().File("a", []byte("a"), 0o644).Bytes()
	if _, err := Stage(ctx, sn, bytes.NewReader(l), UnpackOptions{Expect: digest.FromString("other")}); !errors.Is(err, errdefs.ErrDataCorrupt) {
		t.Errorf("wrong diffID: Stage = %v, want ErrDataCorrupt", err)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatal(err)
	}
	assertNoActive(t, sn)
}

// unpackChain unpacks layers one onto the other with Unpack and returns
// the top chain ID.
func unpackChain(t *testing.T, sn Snapshotter, layers [][]byte) digest.Digest {
	t.Helper()
	var top digest.Digest
	for i, l := range layers {
		u, err := Unpack(context.Background(), sn, top, bytes.NewReader(l), UnpackOptions{})
		if err != nil {
			t.Fatalf("Unpack layer %d: %v", i, err)
		}
		top = u.ChainID
	}
	return top
}

func assertNoActive(t *testing.T, sn snapshot.Snapshotter) {
	t.Helper()
	_ = sn.Walk(context.Background(), func(_ context.Context, info snapshot.Info) error {
		if info.Kind != snapshot.KindCommitted {
			t.Errorf("snapshot %s left %s", info.Name, info.Kind)
		}
		return nil
	})
}

// viewTree mounts a view of chain and describes every entry: type, mode,
// owner, and content, link target, xattrs and mtime where they apply.
func viewTree(t *testing.T, sn snapshot.Snapshotter, chain digest.Digest) map[string]string {
	t.Helper()
	ctx := context.Background()
	key := "view-" + t.Name() + "-" + chain.Encoded()[:8]
	mounts, err := sn.View(ctx, key, chain.String())
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Remove(ctx, key)
	out := map[string]string{}
	err = WithMounted(ctx, mounts, func(root string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			desc := []string{typeChar(st.Mode), strconvOct(st.Mode & 0o7777), ownerOf(&st)}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(b)
				desc = append(desc, hex.EncodeToString(sum[:4]), strconvInt(st.Mtim.Sec))
			case unix.S_IFLNK:
				target, _ := os.Readlink(p)
				desc = append(desc, "->"+target)
			}
			if x := xattrsOf(p); x != "" {
				desc = append(desc, x)
			}
			out[rel] = strings.Join(desc, " ")
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func typeChar(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "d"
	case unix.S_IFLNK:
		return "l"
	case unix.S_IFREG:
		return "f"
	}
	return "?"
}

func strconvOct(m uint32) string { return strconv.FormatUint(uint64(m), 8) }
func strconvInt(n int64) string  { return strconv.FormatInt(n, 10) }

func ownerOf(st *unix.Stat_t) string {
	return strconvInt(int64(st.Uid)) + ":" + strconvInt(int64(st.Gid))
}

func xattrsOf(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var names []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		v := make([]byte, 256)
		m, _ := unix.Lgetxattr(p, name, v)
		names = append(names, name+"="+string(v[:max(m, 0)]))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestStageNeedsOverlay: a snapshotter that copies its parents cannot
// stack a layer afterwards.
func TestStageNeedsOverlay(t *testing.T) {
	sn, err := native.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if CanStage(sn) {
		t.Error("native says it can stage")
	}
	l := testutil.NewTar().File("a", []byte("a"), 0o644).Bytes()
	if _, err := Stage(context.Background(), sn, bytes.NewReader(l), UnpackOptions{}); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("Stage on native = %v, want ErrNotImplemented", err)
	}
	if err := sn.CommitOnto(context.Background(), "x", "y", ""); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("CommitOnto on native = %v, want ErrNotImplemented", err)
	}
}
