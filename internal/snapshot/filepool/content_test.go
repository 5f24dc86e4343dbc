package filepool

import (
	"context"
	"hash"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/testutil"
)

// TestCollisionsNotShared: with a content hash under which every file
// collides (what someone who crafts XXH3 collisions can do for one file),
// no file is linked to an entry with other bytes, on any path: the pass
// over a tree, Live as a layer is written, and Reuse of a file from the
// tar. Files with the same bytes are still shared.
func TestCollisionsNotShared(t *testing.T) {
	testutil.RequiresRoot(t)
	useContentHash(t, collidingHash)
	ctx := context.Background()
	// d/mime and d/mine: the same size, mode, owner, mtime and (here)
	// digest; the pass makes d/mime the entry and must keep d/mine.
	p, s0, s1 := pooledPair(t, func(tb *testutil.Tar) {
		tb.File("d/mime", []byte("mime"), 0o644)
	})
	if a, b := stat(t, filepath.Join(s0, "d/mime")), stat(t, filepath.Join(s0, "d/mine")); a.Ino == b.Ino || a.Nlink != 2 || b.Nlink != 1 {
		t.Fatalf("pass: d/mime (inode %d, nlink %d) and d/mine (inode %d, nlink %d), want d/mime pooled and d/mine its own", a.Ino, a.Nlink, b.Ino, b.Nlink)
	}
	// d/mine is offered the entry of d/mime (refused), then written
	// and pooled as written (refused again); d/copy is d/mime's bytes.
	h, written, taken := unpackLive(t, p, s1, collidingHash, func(tb *testutil.Tar) {
		tb.File("d/copy", []byte("mime"), 0o644).
			File("d/other", []byte("mino"), 0o644)
	})
	if diff := cmp.Diff([]string{"d/copy"}, taken); diff != "" {
		t.Errorf("files reused (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d/shared", "d/mine", "d/other"}, written); diff != "" {
		t.Errorf("files written (-want +got):\n%s", diff)
	}
	inodes := passPoolsNothing(t, p, s1, h)
	for f, want := range map[string]string{"d/mine": "mine", "d/copy": "mime", "d/other": "mino", "d/shared": "shared"} {
		b, err := os.ReadFile(filepath.Join(s1, f))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", f, b, err, want)
		}
	}
	for _, f := range []string{"d/mine", "d/other"} {
		if st := stat(t, filepath.Join(s1, f)); inodes[st.Ino] || st.Nlink != 1 {
			t.Errorf("%s: in the pool %v, nlink %d; want a file of its own", f, inodes[st.Ino], st.Nlink)
		}
	}
	for _, f := range []string{"d/copy", "d/shared"} {
		if st := stat(t, filepath.Join(s1, f)); !inodes[st.Ino] {
			t.Errorf("%s: not in the pool, want it shared (same bytes)", f)
		}
	}
	if probs, _, err := p.Check(ctx); err != nil || len(probs) > 0 {
		t.Errorf("check: %v %v", probs, err)
	}
}

// useContentHash makes the pool key files with the content hash h until
// the test ends.
func useContentHash(t *testing.T, h func() (digest.Algorithm, hash.Hash)) {
	old := contentHash
	contentHash = h
	t.Cleanup(func() { contentHash = old })
}

// collidingHash gives every content the same digest.
func collidingHash() (digest.Algorithm, hash.Hash) { return "xxh3-128", zeroHash{} }

type zeroHash struct{}

func (zeroHash) Write(b []byte) (int, error) { return len(b), nil }
func (zeroHash) Sum(b []byte) []byte         { return append(b, make([]byte, 16)...) }
func (zeroHash) Reset()                      {}
func (zeroHash) Size() int                   { return 16 }
func (zeroHash) BlockSize() int              { return 64 }

// TestSameContent: files of several read buffers compare equal only when
// every byte is, the last and one in a middle buffer included, and a file
// shorter than the size said is a difference, not an error.
func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 600<<10) // more than two of the 256 KiB buffers
	for i := range data {
		data[i] = byte(i * 7)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", data)
	write("same", data)
	for name, at := range map[string]int{"last": len(data) - 1, "middle": 300 << 10} {
		other := append([]byte(nil), data...)
		other[at]++
		write(name, other)
	}
	write("short", data[:len(data)-1])
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	for name, want := range map[string]bool{"same": true, "last": false, "middle": false, "short": false} {
		got, err := sameContent(filepath.Join(dir, "a"), dfd, name, int64(len(data)))
		if err != nil || got != want {
			t.Errorf("sameContent(a, %s) = %v %v, want %v", name, got, err, want)
		}
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err = sameBytes(fd, data)
		unix.Close(fd)
		if err != nil || got != want {
			t.Errorf("sameBytes(%s) = %v %v, want %v", name, got, err, want)
		}
	}
}
