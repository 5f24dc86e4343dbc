package filepool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestDedupeUsesNotedDigests: a file whose digest was noted as it was
// written, and which is unchanged since, is pooled under that digest
// without being read; a file changed after it was noted is read.
func TestDedupeUsesNotedDigests(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	m := time.Unix(1700000000, 0)
	write := func(dir, name, data string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, m, m); err != nil {
			t.Fatal(err)
		}
	}
	note := func(h *Hashes, dir, name, data string) {
		t.Helper()
		st := stat(t, filepath.Join(dir, name))
		h.Note(name, &st, contentDigest(data))
	}

	// The same files pooled once with their digests noted and once read:
	// one entry each.
	d1, d2 := filepath.Join(base, "s1"), filepath.Join(base, "s2")
	known := NewHashes()
	for _, d := range []string{d1, d2} {
		write(d, "a/one", "one\n")
		write(d, "b/two", "two\n")
	}
	note(known, d1, "a/one", "one\n")
	note(known, d1, "b/two", "two\n")
	if _, err := p.Dedupe(ctx, d1, known); err != nil {
		t.Fatal(err)
	}
	s, err := p.Dedupe(ctx, d2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pooled != 2 || s.Saved == 0 {
		t.Errorf("stats of the read pass %+v, want both files linked to the entries the noted pass made", s)
	}

	// A digest that does not match the bytes shows it was not read (Check
	// finds the entry wrong); one for a file changed since is not used.
	d3 := filepath.Join(base, "s3")
	write(d3, "lie", "truth\n")
	write(d3, "changed", "before\n")
	known = NewHashes()
	note(known, d3, "lie", "a lie\n")
	note(known, d3, "changed", "before\n")
	write(d3, "changed", "after, longer\n") // the mtime set back as it was
	if _, err := p.Dedupe(ctx, d3, known); err != nil {
		t.Fatal(err)
	}
	probs, _, err := p.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 {
		t.Errorf("check: %q, want one problem: the entry pooled under the noted (wrong) digest", probs)
	}
	if a, b := stat(t, filepath.Join(d3, "changed")), stat(t, filepath.Join(d3, "lie")); a.Nlink != 2 || b.Nlink != 2 {
		t.Errorf("link counts %d and %d, want both files pooled", a.Nlink, b.Nlink)
	}
}

// TestDedupeNotedStaysInTree: the pass over noted files looks only at
// what the tree holds now. A noted file the layer removed since is
// skipped; so is one whose directory the layer replaced by a symlink,
// even to a directory outside the tree holding a file of that name: it is
// neither read nor linked into the pool.
func TestDedupeNotedStaysInTree(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p, err := Open(filepath.Join(base, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	tree, outside := filepath.Join(base, "tree"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(tree, "a", "b"), filepath.Join(outside, "b")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	known := NewHashes()
	for _, f := range []string{filepath.Join(tree, "a", "b", "f"), filepath.Join(tree, "gone"), filepath.Join(tree, "kept"), filepath.Join(outside, "b", "f")} {
		if err := os.WriteFile(f, []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"a/b/f", "gone", "kept"} {
		st := stat(t, filepath.Join(tree, rel))
		known.Note(rel, &st, contentDigest("data\n"))
	}
	// The layer then removes "gone" and replaces directory a by a symlink.
	if err := os.Remove(filepath.Join(tree, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(tree, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(tree, "a")); err != nil {
		t.Fatal(err)
	}
	s, err := p.Dedupe(ctx, tree, known)
	if err != nil {
		t.Fatal(err)
	}
	if s.Files != 1 || s.Pooled != 1 {
		t.Errorf("stats %+v, want only kept looked at and pooled", s)
	}
	if st := stat(t, filepath.Join(outside, "b", "f")); st.Nlink != 1 {
		t.Errorf("the file outside the tree has %d links, want 1: the pass followed the symlink", st.Nlink)
	}
}

// contentDigest is the digest of data by the pool's content hash.
func contentDigest(data string) digest.Digest {
	alg, h := ContentHash()
	h.Write([]byte(data))
	return digest.NewDigest(alg, h)
}
