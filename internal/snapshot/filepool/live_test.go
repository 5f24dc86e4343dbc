package filepool

import (
	"archive/tar"
	"bytes"
	"context"
	"hash"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/testutil"
)

// TestLivePoolsAsWritten: a layer unpacked with Live pools its files as
// they are written, before the pass at commit (which then has nothing left
// to do), and what later entries do to a file already pooled is right: a
// file written twice is pooled with its last content, and the layer's own
// hard links never land on a pool inode, whether the target's entry was
// made by this layer (it leaves the pool) or is shared with another
// snapshot (the target is copied, metadata and all). Check finds every
// entry's content matching its key, and the directory times are the
// layer's.
func TestLivePoolsAsWritten(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	// Another snapshot already pooled "shared".
	p, s0, s1 := pooledPair(t, nil)
	h := NewHashes()
	live, err := p.Live(s1, h)
	if err != nil {
		t.Fatal(err)
	}
	// d/mine and d/shared are s0's files (pooled by linking to s0's
	// entries), d/solo is new (its entry is made here).
	layer := layerOf(func(tb *testutil.Tar) {
		tb.File("d/twice", []byte("first"), 0o644).
			File("d/dup", []byte("mine"), 0o644). // the same file as d/mine
			File("d/twice", []byte("second"), 0o644).
			File("d/solo", []byte("solo"), 0o644).
			Hardlink("d/mine-link", "d/mine").
			Hardlink("d/shared-link", "d/shared").
			Hardlink("d/solo-link", "d/solo").
			File("d/after", []byte("after"), 0o640)
	})
	if _, err := archive.Apply(ctx, s1, layer, archive.ApplyOptions{FileDigest: live.Note, BeforeLink: live.Unshare, FileHash: ContentHash}); err != nil {
		t.Fatal(err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	// Pooled as written: before any pass.
	for _, f := range []string{"d/twice", "d/dup", "d/after"} {
		if st := stat(t, filepath.Join(s1, f)); st.Nlink < 2 {
			t.Errorf("%s: nlink %d after the unpack, want it pooled as written", f, st.Nlink)
		}
	}
	inodes := passPoolsNothing(t, p, s1, h)
	for _, pair := range [][2]string{{"d/mine", "d/mine-link"}, {"d/shared", "d/shared-link"}, {"d/solo", "d/solo-link"}} {
		a, b := stat(t, filepath.Join(s1, pair[0])), stat(t, filepath.Join(s1, pair[1]))
		if a.Ino != b.Ino || a.Nlink != 2 || inodes[a.Ino] {
			t.Errorf("%s and %s: inodes %d and %d, nlink %d, in the pool %v; want the layer's own pair, out of the pool", pair[0], pair[1], a.Ino, b.Ino, a.Nlink, inodes[a.Ino])
		}
	}
	if st := stat(t, filepath.Join(s1, "d/shared")); st.Mode != unix.S_IFREG|0o4750 || st.Uid != 7 || st.Gid != 8 || st.Mtim.Sec != testutil.TarModTime.Unix() {
		t.Errorf("d/shared copied out of the pool with mode %o uid %d gid %d mtime %d, want the layer's", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
	}
	if v := make([]byte, 16); true {
		n, err := unix.Lgetxattr(filepath.Join(s1, "d/shared"), "user.k", v)
		if err != nil || string(v[:n]) != "v" {
			t.Errorf("d/shared copied out of the pool: xattr user.k %q %v, want \"v\"", v[:n], err)
		}
	}
	if st, st0 := stat(t, filepath.Join(s1, "d/dup")), stat(t, filepath.Join(s0, "d/mine")); st.Ino != st0.Ino || !inodes[st.Ino] {
		t.Error("d/dup does not share the pool inode of s0's d/mine")
	}
	for f, want := range map[string]string{"d/twice": "second", "d/dup": "mine", "d/shared": "shared", "d/mine": "mine", "d/solo": "solo"} {
		if b, err := os.ReadFile(filepath.Join(s1, f)); err != nil || !bytes.Equal(b, []byte(want)) {
			t.Errorf("%s: %q %v, want %q", f, b, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s0, "d/shared")); err != nil || string(b) != "shared" || stat(t, filepath.Join(s0, "d/shared")).Nlink != 2 {
		t.Errorf("s0's d/shared: %q %v, want it as it was, still pooled", b, err)
	}
	if probs, _, err := p.Check(ctx); err != nil || len(probs) > 0 {
		t.Errorf("check: %v %v", probs, err)
	}
	if st := stat(t, filepath.Join(s1, "d")); st.Mtim.Sec != testutil.TarModTime.Unix() {
		t.Errorf("d: mtime %d, want the layer's", st.Mtim.Sec)
	}
}

// passPoolsNothing runs the pass at commit on dir with the digests h
// noted, fails unless it had nothing left to pool, and returns the pool's
// inodes.
func passPoolsNothing(t *testing.T, p *Pool, dir string, h *Hashes) map[uint64]bool {
	ctx := context.Background()
	s, err := p.Dedupe(ctx, dir, h)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pooled != 0 {
		t.Errorf("pass at commit: %+v, want nothing left to pool", s)
	}
	inodes, err := p.Inodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return inodes
}

// pooledPair returns a pool and two snapshot directories beside it: s0
// holds layerOf(more), pooled; s1 is empty.
func pooledPair(t *testing.T, more func(*testutil.Tar)) (p *Pool, s0, s1 string) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 = filepath.Join(base, "s0"), filepath.Join(base, "s1")
	for _, d := range []string{s0, s1} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := archive.Apply(ctx, s0, layerOf(more), archive.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Dedupe(ctx, s0, nil); err != nil {
		t.Fatal(err)
	}
	return p, s0, s1
}

// layerOf is a layer with d/shared (setuid, owner 7:8, an xattr) and
// d/mine, then what more adds.
func layerOf(more func(*testutil.Tar)) *bytes.Reader {
	tb := testutil.NewTar().Dir("d", 0o755)
	tb.Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "d/shared", Mode: 0o4750, Uid: 7, Gid: 8,
		PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, []byte("shared"))
	tb.File("d/mine", []byte("mine"), 0o644)
	if more != nil {
		more(tb)
	}
	return bytes.NewReader(tb.Bytes())
}

// TestLiveReuse: a layer unpacked with Live.Reuse gets the pool's entry
// for a file another snapshot has (same content and metadata) linked in
// its place, never written, noted as pooled, so the pass at commit has
// nothing to do; a file that differs in its metadata, or whose entry is
// not what its key says, is written; a hard link the layer then makes to
// a reused file is the layer's own (Unshare copies it out); Check is
// clean.
func TestLiveReuse(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	p, s0, s1 := pooledPair(t, func(tb *testutil.Tar) {
		tb.File("d/damaged", []byte("damaged"), 0o644)
	})
	// The entry of d/damaged no longer has the mode its key says.
	if err := os.Chmod(filepath.Join(s0, "d/damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, written, taken := unpackLive(t, p, s1, ContentHash, func(tb *testutil.Tar) {
		// d/copy is d/mine again at another path.
		tb.File("d/copy", []byte("mine"), 0o644).
			File("d/other-mode", []byte("mine"), 0o600).
			File("d/damaged", []byte("damaged"), 0o644).
			Hardlink("d/copy-link", "d/copy")
	})
	if diff := cmp.Diff([]string{"d/mine", "d/copy"}, taken); diff != "" {
		t.Errorf("files reused (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d/shared", "d/other-mode", "d/damaged"}, written); diff != "" {
		t.Errorf("files written (-want +got):\n%s", diff)
	}
	inodes := passPoolsNothing(t, p, s1, h)
	if st, st0 := stat(t, filepath.Join(s1, "d/mine")), stat(t, filepath.Join(s0, "d/mine")); st.Ino != st0.Ino || !inodes[st.Ino] {
		t.Error("d/mine is not s0's pooled file")
	}
	if a, b := stat(t, filepath.Join(s1, "d/copy")), stat(t, filepath.Join(s1, "d/copy-link")); a.Ino != b.Ino || a.Nlink != 2 || inodes[a.Ino] {
		t.Errorf("d/copy and d/copy-link: inodes %d and %d, nlink %d, in the pool %v; want the layer's own pair", a.Ino, b.Ino, a.Nlink, inodes[a.Ino])
	}
	if st := stat(t, filepath.Join(s1, "d/damaged")); st.Mode != unix.S_IFREG|0o644 || inodes[st.Ino] {
		t.Errorf("d/damaged: mode %o, in the pool %v; want the layer's file, written", st.Mode, inodes[st.Ino])
	}
	if st := stat(t, filepath.Join(s1, "d/other-mode")); st.Mode != unix.S_IFREG|0o600 {
		t.Errorf("d/other-mode: mode %o, want 600", st.Mode)
	}
	for f, want := range map[string]string{"d/mine": "mine", "d/copy": "mine", "d/other-mode": "mine", "d/damaged": "damaged", "d/shared": "shared"} {
		if b, err := os.ReadFile(filepath.Join(s1, f)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", f, b, err, want)
		}
	}
	// Mend the entry damaged above: the rest is clean.
	if err := os.Chmod(filepath.Join(s0, "d/damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if probs, _, err := p.Check(ctx); err != nil || len(probs) > 0 {
		t.Errorf("check: %v %v", probs, err)
	}
	if st := stat(t, filepath.Join(s1, "d")); st.Mtim.Sec != testutil.TarModTime.Unix() {
		t.Errorf("d: mtime %d, want the layer's", st.Mtim.Sec)
	}
}

// unpackLive unpacks layerOf(more) into dir as a base layer is unpacked
// with dedupe on: its files pooled by Live as they are written and offered
// to Live.Reuse first, digests taken with newHash. It returns the digests
// noted and the paths of the files written and of those Reuse took.
func unpackLive(t *testing.T, p *Pool, dir string, newHash func() (digest.Algorithm, hash.Hash), more func(*testutil.Tar)) (h *Hashes, written, taken []string) {
	t.Helper()
	h = NewHashes()
	live, err := p.Live(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	opts := archive.ApplyOptions{
		FileHash:   newHash,
		BeforeLink: live.Unshare,
		FileDigest: func(rel string, st *unix.Stat_t, dgst digest.Digest) {
			written = append(written, rel)
			live.Note(rel, st, dgst)
		},
		Reuse: func(dirfd int, name, rel string, st *unix.Stat_t, content []byte, dgst digest.Digest) bool {
			ok := live.Reuse(dirfd, name, rel, st, content, dgst)
			if ok {
				taken = append(taken, rel)
			}
			return ok
		},
	}
	if _, err := archive.Apply(context.Background(), dir, layerOf(more), opts); err != nil {
		t.Fatal(err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	return h, written, taken
}
