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
		h.Note(name, &st, digest.FromString(data))
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
