package filepool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/archive"
	"github.com/strata-project/strata/internal/testutil"
)

// TestRekey: a pool an older Strata keyed with BLAKE3 is moved to the
// current content hash by Rekey: an entry whose current key is free is
// renamed (its snapshot files keep their inode), one whose current key a
// newer entry of the same file holds is merged (Rekeyed.Dedupe relinks
// its files to that entry and Prune removes it); then files unpacked now
// share the old snapshots' files, the directory times are kept, and Check
// has nothing more to say; an entry written to in place is not moved.
func TestRekey(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	// s0: d/shared and d/mine pooled under BLAKE3 keys, as before.
	useContentHash(t, legacyContentHashes[0])
	p, s0, s1 := pooledPair(t, func(tb *testutil.Tar) {
		tb.File("d/damaged", []byte("damaged"), 0o644)
	})
	contentHash = ContentHash
	// d/damaged was written in place after it was pooled: Rekey must not
	// give it a name that matches what it holds now.
	if err := os.WriteFile(filepath.Join(s0, "d/damaged"), []byte("DAMAGED"), 0o644); err != nil {
		t.Fatal(err)
	}
	// s1: d/mine again, pooled under the current key since the upgrade.
	mine := testutil.NewTar().Dir("d", 0o755).File("d/mine", []byte("mine"), 0o644)
	if _, err := archive.Apply(ctx, s1, mine.Reader(), archive.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Dedupe(ctx, s1, nil); err != nil {
		t.Fatal(err)
	}
	if stat(t, filepath.Join(s0, "d/mine")).Ino == stat(t, filepath.Join(s1, "d/mine")).Ino {
		t.Fatal("d/mine shared across key schemes before Rekey")
	}
	probs, notes, err := p.Check(ctx)
	if err != nil || len(probs) != 1 || !strings.Contains(strings.Join(notes, "\n"), "2 file pool entr(ies) keyed by an earlier content hash") {
		t.Errorf("check before Rekey: %v %v %v, want d/damaged's entry reported and 2 entries of an earlier hash noted", probs, notes, err)
	}
	sharedIno, dirBefore := stat(t, filepath.Join(s0, "d/shared")).Ino, stat(t, filepath.Join(s0, "d"))
	rk, err := p.Rekey(ctx)
	if err != nil || rk.Moved != 1 || rk.Merged() != 1 {
		t.Fatalf("rekey: %+v %v, want d/shared moved and d/mine merged", rk, err)
	}
	for _, d := range []string{s0, s1} {
		if _, err := rk.Dedupe(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := p.Prune(ctx, false); err != nil || rep.Files != 1 {
		t.Errorf("prune after the merge: %+v %v, want the old d/mine entry removed", rep, err)
	}
	if a, b := stat(t, filepath.Join(s0, "d/mine")), stat(t, filepath.Join(s1, "d/mine")); a.Ino != b.Ino {
		t.Error("s0's d/mine not relinked to the current entry")
	}
	if st := stat(t, filepath.Join(s0, "d/shared")); st.Ino != sharedIno {
		t.Error("s0's d/shared changed inode: a moved entry must not touch its files")
	}
	if st := stat(t, filepath.Join(s0, "d")); st.Mtim != dirBefore.Mtim {
		t.Errorf("s0's d: mtime %v, was %v", st.Mtim, dirBefore.Mtim)
	}
	// A layer unpacked now shares both.
	s2 := filepath.Join(filepath.Dir(s0), "s2")
	if err := os.Mkdir(s2, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Apply(ctx, s2, layerOf(nil), archive.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Dedupe(ctx, s2, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"d/shared", "d/mine"} {
		if stat(t, filepath.Join(s2, f)).Ino != stat(t, filepath.Join(s0, f)).Ino {
			t.Errorf("%s of a layer unpacked after Rekey does not share the old snapshot's", f)
		}
	}
	if probs, notes, err := p.Check(ctx); err != nil || len(probs) != 1 || len(notes) > 0 {
		t.Errorf("check after Rekey: %v %v %v, want d/damaged's entry still reported, and no note", probs, notes, err)
	}
	if again, err := p.Rekey(ctx); err != nil || again.Moved+again.Merged() != 0 {
		t.Errorf("second Rekey: %+v %v, want nothing to do", again, err)
	}
}
