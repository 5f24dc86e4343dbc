package filepool

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
)

func stat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// tree writes the same files under dir with mtime m on files and dirMtime
// on directories.
func tree(t *testing.T, dir string, dirMtime time.Time) {
	t.Helper()
	m := time.Unix(1700000000, 123)
	files := map[string]string{"a/big": string(make([]byte, 100000)), "a/small": "x", "b/c/d": "hello\n", "empty": ""}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, m, m); err != nil {
			t.Fatal(err)
		}
	}
	// The layer's own hard link stays its own.
	if err := os.Link(filepath.Join(dir, "b/c/d"), filepath.Join(dir, "b/own")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"b/c", "b", "a", "."} {
		if err := os.Chtimes(filepath.Join(dir, d), dirMtime, dirMtime); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDedupeSharesAndKeepsTimes(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := filepath.Join(base, "s1"), filepath.Join(base, "s2")
	tree(t, d1, time.Unix(1600000000, 5))
	tree(t, d2, time.Unix(1650000000, 7))
	// Same bytes, other mtime: not the same file to a reader.
	other := filepath.Join(d2, "a/other")
	if err := os.WriteFile(other, make([]byte, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(d2, "a"), time.Unix(1650000000, 7), time.Unix(1650000000, 7)); err != nil {
		t.Fatal(err)
	}
	before := map[string]unix.Stat_t{}
	for _, d := range []string{d1, d2, filepath.Join(d1, "a"), filepath.Join(d2, "a"), filepath.Join(d2, "b/c")} {
		before[d] = stat(t, d)
	}
	s1, err := p.Dedupe(ctx, d1, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := p.Dedupe(ctx, d2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Pooled != 2 || s1.Saved != 0 || s2.Pooled != 3 || s2.Saved < 100000 {
		t.Errorf("stats %+v %+v, want 2 new pool entries, then 2 links and 1 new entry saving the big file", s1, s2)
	}
	for _, f := range []string{"a/big", "a/small"} {
		a, b := stat(t, filepath.Join(d1, f)), stat(t, filepath.Join(d2, f))
		if a.Ino != b.Ino || a.Nlink != 3 {
			t.Errorf("%s: inodes %d and %d (nlink %d), want one inode linked from both and the pool", f, a.Ino, b.Ino, a.Nlink)
		}
	}
	// Usage: 3 entries, 2 of them (a/big, a/small) linked from both
	// trees, which saves what the pass said it freed.
	if u, err := p.Usage(ctx); err != nil || u.Files != 3 || u.Links != 5 || u.Shared != 2 || u.Saved != s2.Saved {
		t.Errorf("usage %+v %v, want 3 entries, 5 links, 2 shared saving %d bytes", u, err, s2.Saved)
	}
	if a, b := stat(t, filepath.Join(d2, "a/big")), stat(t, other); a.Ino == b.Ino {
		t.Error("files with different mtimes share an inode")
	}
	if a, b := stat(t, filepath.Join(d1, "empty")), stat(t, filepath.Join(d2, "empty")); a.Ino == b.Ino {
		t.Error("empty files were pooled")
	}
	if a, b := stat(t, filepath.Join(d1, "b/own")), stat(t, filepath.Join(d2, "b/own")); a.Ino == b.Ino || a.Nlink != 2 {
		t.Errorf("the layer's own hard link was pooled (nlink %d)", a.Nlink)
	}
	for d, st := range before {
		if got := stat(t, d); got.Mtim != st.Mtim {
			t.Errorf("%s: mtime %v, want %v as before", d, got.Mtim, st.Mtim)
		}
	}
	again, err := p.Dedupe(ctx, d2, nil)
	if err != nil || again.Pooled != 0 || again.Saved != 0 {
		t.Errorf("second pass: %+v, %v; want nothing done", again, err)
	}
	if probs, _, err := p.Check(ctx); err != nil || len(probs) > 0 {
		t.Errorf("check: %v %v", probs, err)
	}
	// Writing a pooled file in place is what Check exists to catch.
	if err := os.WriteFile(filepath.Join(d1, "a/small"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if probs, _, _ := p.Check(ctx); len(probs) != 1 {
		t.Errorf("check after an in-place write: %v, want one problem", probs)
	}

	if err := os.RemoveAll(d1); err != nil {
		t.Fatal(err)
	}
	if rep, err := p.Prune(ctx, false); err != nil || rep.Files != 0 {
		t.Errorf("prune with s2 still linked: %+v %v, want nothing removed", rep, err)
	}
	if err := os.RemoveAll(d2); err != nil {
		t.Fatal(err)
	}
	if rep, err := p.Prune(ctx, false); err != nil || rep.Files != 3 {
		t.Errorf("prune: %+v %v, want the 3 entries removed", rep, err)
	}
	if u, err := p.Usage(ctx); err != nil || u.Files != 0 {
		t.Errorf("usage after prune: %+v %v", u, err)
	}
}

func TestRecoverRestoresTimesOfADeadPass(t *testing.T) {
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "snap")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := time.Unix(1500000000, 42)
	// A pid that is gone: a child that has exited and been waited for.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(cmd.Process.Pid)
	b, _ := json.Marshal(dirTimes{Path: dir, Atime: [2]int64{want.Unix(), 42}, Mtime: [2]int64{want.Unix(), 42}})
	if err := os.WriteFile(filepath.Join(p.root, "tmp", "dir-"+dead+"-ab"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.root, "tmp", "link-"+dead+"-cd"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, notes, _ := p.Check(context.Background()); len(notes) != 1 {
		t.Errorf("check notes %v, want the leftovers named", notes)
	}
	if n, err := p.Recover(); err != nil || n != 2 {
		t.Fatalf("recover: %d %v", n, err)
	}
	if st := stat(t, dir); st.Mtim.Sec != want.Unix() || st.Mtim.Nsec != 42 {
		t.Errorf("mtime %v, want %v", st.Mtim, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(p.root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp still holds %d files", len(ents))
	}
}

// TestDedupeSharesTwoPathsOfOneTree: two files of one layer with the same
// content and metadata share the pool's inode too, and a tar of the tree
// told the pool's inodes (archive.WriteOptions.Shared, as every tar of a
// snapshot is) still has two files, not a hard link the layer lacks.
func TestDedupeSharesTwoPathsOfOneTree(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "s")
	m := time.Unix(1700000000, 0)
	names := []string{"x/one", "y/two", "y/three"}
	for _, n := range names {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte("same bytes\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, n), m, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		s, err := p.Dedupe(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (s.Files != 3 || s.Pooled != 3) {
			t.Errorf("first pass: %+v, want 3 files looked at and pooled", s)
		}
		a := stat(t, filepath.Join(dir, names[0]))
		for _, n := range names[1:] {
			if b := stat(t, filepath.Join(dir, n)); b.Ino != a.Ino {
				t.Fatalf("pass %d: %s and %s: inodes %d and %d, want one", i+1, names[0], n, a.Ino, b.Ino)
			}
		}
		if a.Nlink != 4 {
			t.Errorf("pass %d: nlink %d, want 4 (three paths and the pool)", i+1, a.Nlink)
		}
	}
	var buf bytes.Buffer
	if err := archive.WriteDir(ctx, &buf, dir, archive.WriteOptions{Shared: p.Lookup(ctx)}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	files := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeLink {
			t.Errorf("%s: a hard link to %s in the tar", hdr.Name, hdr.Linkname)
		}
		if hdr.Typeflag == tar.TypeReg {
			if b, _ := io.ReadAll(tr); string(b) != "same bytes\n" {
				t.Errorf("%s: %q", hdr.Name, b)
			}
			files++
		}
	}
	if files != len(names) {
		t.Errorf("%d files in the tar, want %d", files, len(names))
	}
}

// TestLookupSeesLaterEntries: a Lookup made before files are pooled (a
// build's, whose steps pool as they commit) knows their inodes after.
func TestLookupSeesLaterEntries(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	shared := p.Lookup(ctx)
	dir := filepath.Join(base, "s")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("pooled later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ino := stat(t, f).Ino
	if shared(ino) {
		t.Fatal("an inode not pooled yet is taken for a pool entry")
	}
	if _, err := p.Dedupe(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := stat(t, f).Ino; got != ino || !shared(ino) {
		t.Errorf("after the pass: inode %d (was %d), shared %v; want the same inode, shared", got, ino, shared(ino))
	}
}

// TestCheckKnowsLegacyEntries: an entry pooled under a SHA-256 content
// digest (the pool's first content hash) checks clean, and is still
// reported once written to in place.
func TestCheckKnowsLegacyEntries(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "f")
	if err := os.WriteFile(file, []byte("made before blake3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	st := stat(t, file)
	k, ok, err := keyWith(f, &st, make([]byte, 4096), legacyContentHashes[len(legacyContentHashes)-1])
	f.Close()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	shard, entry := entryPath(k)
	if err := os.MkdirAll(filepath.Join(p.Root(), "sha256", shard), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(file, filepath.Join(p.Root(), "sha256", entry)); err != nil {
		t.Fatal(err)
	}
	if probs, _, err := p.Check(ctx); err != nil || len(probs) > 0 {
		t.Errorf("check of a SHA-256 entry: %v %v, want it clean", probs, err)
	}
	if err := os.WriteFile(file, []byte("written in place\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if probs, _, _ := p.Check(ctx); len(probs) != 1 {
		t.Errorf("check after an in-place write: %v, want one problem", probs)
	}
}

// TestXattrsAt: a file's xattrs read relative to its directory, with
// listxattrat and through the /proc path an older kernel gets, are the
// same; a symlink's are its own.
func TestXattrsAt(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(f, "user.k", []byte("v"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	defer noListxattrat.Store(noListxattrat.Load())
	for _, fallback := range []bool{false, true} {
		noListxattrat.Store(fallback)
		got, err := xattrsAt(dfd, "f")
		if err != nil || len(got) != 1 || got["user.k"] != "v" {
			t.Errorf("fallback %v: f has %v %v, want user.k=v", fallback, got, err)
		}
		if got, err := xattrsAt(dfd, "l"); err != nil || len(got) != 0 {
			t.Errorf("fallback %v: the symlink has %v %v, want none of its target's", fallback, got, err)
		}
	}
}
