package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/testutil"
)

// TestApplyFileDigest: every regular file written is reported with the
// digest of its content and its lstat once its metadata is set; a file
// written twice is reported twice, the last report matching what is on
// disk; a file hard-linked later shows a link count its report has not.
func TestApplyFileDigest(t *testing.T) {
	testutil.RequiresRoot(t)
	big := make([]byte, 3<<20) // more than the copy buffer
	for i := range big {
		big[i] = byte(i * 7)
	}
	layer := testutil.NewTar().
		Dir("etc", 0o755).
		File("etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n"), 0o644).
		File("big", big, 0o600).
		File("twice", []byte("first"), 0o644).
		File("linked", []byte("linked"), 0o644).
		File("empty", nil, 0o644).
		Hardlink("link2", "linked").
		File("twice", []byte("second and longer"), 0o755)
	type report struct {
		Dgst digest.Digest
		St   unix.Stat_t
	}
	got := map[string][]report{}
	root := t.TempDir()
	opts := ApplyOptions{FileDigest: func(rel string, st *unix.Stat_t, dgst digest.Digest) {
		got[rel] = append(got[rel], report{dgst, *st})
	}}
	if _, err := Apply(context.Background(), root, layer.Reader(), opts); err != nil {
		t.Fatal(err)
	}
	want := map[string][]digest.Digest{
		"etc/passwd": {digest.FromString("root:x:0:0::/root:/bin/sh\n")},
		"big":        {digest.FromBytes(big)},
		"twice":      {digest.FromString("first"), digest.FromString("second and longer")},
		"linked":     {digest.FromString("linked")},
		"empty":      {digest.FromString("")},
	}
	gotDigests := map[string][]digest.Digest{}
	for rel, rs := range got {
		for _, r := range rs {
			gotDigests[rel] = append(gotDigests[rel], r.Dgst)
		}
	}
	if diff := cmp.Diff(want, gotDigests); diff != "" {
		t.Errorf("digests reported (-want +got):\n%s", diff)
	}
	for rel, rs := range got {
		last := rs[len(rs)-1].St
		var now unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, rel), &now); err != nil {
			t.Fatal(err)
		}
		unchanged := now.Ino == last.Ino && now.Nlink == last.Nlink && now.Ctim == last.Ctim && now.Mtim == last.Mtim && now.Mode == last.Mode
		if rel == "linked" {
			if unchanged || now.Nlink != 2 {
				t.Errorf("linked: reported stat %+v and stat now %+v, want the hard link to show", last, now)
			}
		} else if !unchanged {
			t.Errorf("%s: reported stat %+v, stat now %+v: want the one after its metadata was set", rel, last, now)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "twice")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("twice: %v %v, want mode 755 from the second entry", fi, err)
	}
}

// TestApplyFileDigestMany: files handed to the hasher many to a buffer, and
// across buffers (more than all the buffers hold at once, sizes that
// straddle a buffer's end), are each reported with their own digest.
func TestApplyFileDigestMany(t *testing.T) {
	testutil.RequiresRoot(t)
	layer := testutil.NewTar()
	want := map[string]digest.Digest{}
	for i := range 1500 {
		data := make([]byte, (i*997)%9000)
		for j := range data {
			data[j] = byte(i + j)
		}
		name := fmt.Sprintf("f%04d", i)
		layer.File(name, data, 0o644)
		want[name] = digest.FromBytes(data)
	}
	got := map[string]digest.Digest{}
	opts := ApplyOptions{FileDigest: func(rel string, _ *unix.Stat_t, dgst digest.Digest) { got[rel] = dgst }}
	if _, err := Apply(context.Background(), t.TempDir(), layer.Reader(), opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("digests reported (-want +got):\n%s", diff)
	}
}

// TestApplyFileDigestBeforeChanges: FileDigest for a file is called while
// the file reported is still at its path, untouched, even when later
// entries replace it, remove it (a whiteout, an opaque directory, a
// directory replacing a file's directory) or hard-link to it; BeforeLink
// comes after the target's report, and directory times are set after
// every report. The reports would otherwise come only when the hasher's
// buffer fills, or at the end: after all of that.
func TestApplyFileDigestBeforeChanges(t *testing.T) {
	testutil.RequiresRoot(t)
	layer := testutil.NewTar().
		Dir("d", 0o755).
		File("d/replaced", []byte("one"), 0o644).
		File("d/replaced", []byte("two"), 0o644).
		File("d/whited", []byte("w"), 0o644).
		Whiteout("d/whited").
		File("d/target", []byte("t"), 0o644).
		Hardlink("d/link", "d/target").
		Dir("o", 0o755).
		File("o/gone", []byte("g"), 0o644).
		Opaque("o").
		Dir("sub", 0o755).
		File("sub/f", []byte("f"), 0o644).
		File("sub", []byte("a file now"), 0o644).
		File("d/last", []byte("l"), 0o644)
	root := t.TempDir()
	var events []string
	var problems []string
	opts := ApplyOptions{
		FileDigest: func(rel string, st *unix.Stat_t, dgst digest.Digest) {
			events = append(events, "digest "+rel)
			var now unix.Stat_t
			if err := unix.Lstat(filepath.Join(root, rel), &now); err != nil || now.Ino != st.Ino || now.Nlink != 1 || now.Ctim != st.Ctim {
				problems = append(problems, fmt.Sprintf("%s: reported %d (nlink %d), at its path now %d (nlink %d), %v", rel, st.Ino, st.Nlink, now.Ino, now.Nlink, err))
			}
			// Move the directory's mtime, as the file pool's replacing a
			// file by its entry does.
			probe := filepath.Join(root, filepath.Dir(rel), ".probe")
			if err := os.WriteFile(probe, nil, 0o600); err != nil {
				problems = append(problems, err.Error())
			}
			_ = os.Remove(probe)
		},
		BeforeLink: func(rel string) error {
			events = append(events, "link "+rel)
			return nil
		},
	}
	if _, err := Apply(context.Background(), root, layer.Reader(), opts); err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	want := []string{"digest d/replaced", "digest d/replaced", "digest d/whited", "digest d/target", "link d/target", "digest o/gone", "digest sub/f", "digest sub", "digest d/last"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// The directory times are the layer's, whatever the callbacks did.
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "d"), &st); err != nil || st.Mtim.Sec != testutil.TarModTime.Unix() {
		t.Errorf("d: mtime %v, want the layer's %v (%v)", time.Unix(st.Mtim.Unix()), testutil.TarModTime, err)
	}
}
