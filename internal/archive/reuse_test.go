package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/testutil"
)

// TestApplyReuse: Reuse is offered the small plain files (not one with
// xattrs, an empty one, one over reuseMax, one in a directory with a
// default ACL), with the digest of the content and exactly the lstat
// fields the file gets when Apply writes it; a file it takes is neither
// written nor changed by Apply, nor reported to FileDigest, and the
// index still rebuilds the layer's exact tar; a file it does not take is
// written and reported with the same digest.
func TestApplyReuse(t *testing.T) {
	testutil.RequiresRoot(t)
	mtime := time.Date(2021, 2, 3, 4, 5, 6, 789, time.UTC)
	atime := time.Date(2022, 2, 3, 4, 5, 6, 0, time.UTC)
	big := bytes.Repeat([]byte("b"), reuseMax+1)
	layer := testutil.NewTar().
		Dir("a", 0o755).
		Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "a/small", Mode: 0o2751, Uid: 5, Gid: 6, ModTime: mtime, AccessTime: atime, Format: tar.FormatPAX}, []byte("small")).
		File("a/taken", []byte("taken"), 0o644).
		Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "a/x", Mode: 0o644, ModTime: testutil.TarModTime,
			PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, []byte("x")).
		File("a/empty", nil, 0o644).
		File("a/big", big, 0o644).
		Dir("acl", 0o755).
		File("acl/f", []byte("f"), 0o644).
		Bytes()

	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "acl"), 0o755); err != nil {
		t.Fatal(err)
	}
	acl := defaultACLXattr()
	aclSet := unix.Setxattr(filepath.Join(root, "acl"), "system.posix_acl_default", acl, 0) == nil

	type offer struct {
		st      unix.Stat_t
		content string
		dgst    digest.Digest
	}
	offered := map[string]offer{}
	var takenCtim unix.Timespec
	digests := map[string]digest.Digest{}
	var index bytes.Buffer
	opts := ApplyOptions{
		Index: &index,
		FileDigest: func(rel string, st *unix.Stat_t, dgst digest.Digest) {
			digests[rel] = dgst
		},
		Reuse: func(dirfd int, name, rel string, st *unix.Stat_t, content []byte, dgst digest.Digest) bool {
			offered[rel] = offer{*st, string(content), dgst}
			if rel != "a/taken" {
				return false
			}
			// Make the file as the pool would link it: content and
			// metadata as st says.
			fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
			if err != nil {
				t.Error(err)
				return false
			}
			_, _ = unix.Write(fd, content)
			_ = unix.Fchmod(fd, st.Mode&0o7777)
			unix.Close(fd)
			_ = unix.UtimesNanoAt(dirfd, name, []unix.Timespec{st.Atim, st.Mtim}, 0)
			var now unix.Stat_t
			_ = unix.Fstatat(dirfd, name, &now, 0)
			takenCtim = now.Ctim
			return true
		},
	}
	if _, err := Apply(context.Background(), root, bytes.NewReader(layer), opts); err != nil {
		t.Fatal(err)
	}

	var names []string
	for rel := range offered {
		names = append(names, rel)
	}
	sort.Strings(names)
	want := []string{"a/small", "a/taken"}
	if !aclSet {
		want = []string{"a/small", "a/taken", "acl/f"}
		t.Log("no default ACL here (setxattr refused): acl/f is offered")
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files offered (-want +got):\n%s", diff)
	}
	// What Reuse was told of a/small is what Apply made of it.
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "a/small"), &st); err != nil {
		t.Fatal(err)
	}
	o := offered["a/small"]
	got := fmt.Sprintf("mode %o uid %d gid %d size %d mtime %v atime %v nlink %d", o.st.Mode, o.st.Uid, o.st.Gid, o.st.Size, o.st.Mtim, o.st.Atim, o.st.Nlink)
	was := fmt.Sprintf("mode %o uid %d gid %d size %d mtime %v atime %v nlink %d", st.Mode, st.Uid, st.Gid, st.Size, st.Mtim, st.Atim, st.Nlink)
	if got != was {
		t.Errorf("a/small offered as %s, written as %s", got, was)
	}
	sum := sha256.Sum256([]byte("small"))
	if wantD := digest.NewDigestFromBytes(digest.SHA256, sum[:]); o.dgst != wantD || digests["a/small"] != wantD {
		t.Errorf("a/small: offered with %s, reported with %s, want %s", o.dgst, digests["a/small"], wantD)
	}
	if o.content != "small" {
		t.Errorf("a/small offered with content %q, want %q", o.content, "small")
	}
	// Taken: not written, changed or reported by Apply.
	if b, err := os.ReadFile(filepath.Join(root, "a/taken")); err != nil || string(b) != "taken" {
		t.Errorf("a/taken: %q %v", b, err)
	}
	if err := unix.Lstat(filepath.Join(root, "a/taken"), &st); err != nil || st.Ctim != takenCtim {
		t.Errorf("a/taken changed by Apply after Reuse took it (ctime %v, was %v) %v", st.Ctim, takenCtim, err)
	}
	if _, ok := digests["a/taken"]; ok {
		t.Error("a/taken reported to FileDigest after Reuse took it")
	}
	for _, rel := range []string{"a/small", "a/x", "a/empty", "a/big", "acl/f"} {
		if _, ok := digests[rel]; !ok {
			t.Errorf("%s written but not reported to FileDigest", rel)
		}
	}
	// The index rebuilds the exact tar, the file Reuse took included.
	var rebuilt bytes.Buffer
	if err := Rebuild(context.Background(), &rebuilt, root, &index); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rebuilt.Bytes(), layer) {
		t.Errorf("rebuilt tar differs from the layer (%d bytes, want %d)", rebuilt.Len(), len(layer))
	}
}

// TestApplyReuseStops: offers stop after reuseProbe files when Reuse
// takes fewer than one in reuseShare; the files are all written.
func TestApplyReuseStops(t *testing.T) {
	testutil.RequiresRoot(t)
	tb := testutil.NewTar().Dir("d", 0o755)
	for i := range 100 {
		tb.File(fmt.Sprintf("d/f%03d", i), []byte(fmt.Sprint(i)), 0o644)
	}
	root := t.TempDir()
	offers, written := 0, 0
	opts := ApplyOptions{
		FileDigest: func(string, *unix.Stat_t, digest.Digest) { written++ },
		Reuse:      func(int, string, string, *unix.Stat_t, []byte, digest.Digest) bool { offers++; return false },
	}
	if _, err := Apply(context.Background(), root, tb.Reader(), opts); err != nil {
		t.Fatal(err)
	}
	if offers != reuseProbe || written != 100 {
		t.Errorf("%d offers, %d files written; want %d and 100", offers, written, reuseProbe)
	}
}

// defaultACLXattr is the system.posix_acl_default value of the ACL
// u::rwx,g::r-x,o::r-x (the kernel's xattr format, version 2).
func defaultACLXattr() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range [][2]uint16{{0x01, 7}, {0x04, 5}, {0x20, 5}} {
		b = binary.LittleEndian.AppendUint16(b, e[0])
		b = binary.LittleEndian.AppendUint16(b, e[1])
		b = binary.LittleEndian.AppendUint32(b, 0xffffffff)
	}
	return b
}
