package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/testutil"
)

func TestRebuildByteIdentical(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	var rich bytes.Buffer
	if err := WriteDir(ctx, &rich, richTree(t), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("long-directory-name/", 8) + "file"
	tests := map[string][]byte{
		"WriteDir tree": rich.Bytes(),
		// A tar as GNU tar writes it: padded to a 10 KiB record.
		"record padding": append(testutil.NewTar().File("a", []byte("x"), 0o644).Bytes(), make([]byte, 10240-3*512)...),
		"long names and whiteouts": testutil.NewTar().
			File(long, bytes.Repeat([]byte("z"), 70000), 0o644).
			Symlink("link", strings.Repeat("t/", 80)).
			Whiteout("gone").
			File("unaligned", []byte("123"), 0o600).
			Entry(&tar.Header{Typeflag: tar.TypeReg, Name: "xattr", Mode: 0o644,
				PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, []byte("with xattr")).
			Hardlink("hl", "unaligned").
			Bytes(),
		"empty tar": testutil.NewTar().Bytes(),
	}
	for name, layer := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			var index bytes.Buffer
			n, err := Apply(ctx, root, bytes.NewReader(layer), ApplyOptions{Index: &index})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(layer)) {
				t.Errorf("Apply read %d bytes, want %d", n, len(layer))
			}
			if index.Len() > len(layer)/2+4096 && len(layer) > 1<<16 {
				t.Errorf("index is %d bytes for a %d byte tar: payloads leaked into it", index.Len(), len(layer))
			}
			var rebuilt bytes.Buffer
			if err := Rebuild(ctx, &rebuilt, root, bytes.NewReader(index.Bytes())); err != nil {
				t.Fatal(err)
			}
			if got, want := sha256.Sum256(rebuilt.Bytes()), sha256.Sum256(layer); got != want {
				t.Errorf("rebuilt sha256 %x, want %x (%d bytes, want %d)", got, want, rebuilt.Len(), len(layer))
			}
		})
	}
}

func TestRebuildDetectsDamage(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	var index bytes.Buffer
	layer := testutil.NewTar().File("a", []byte("content"), 0o644).Bytes()
	if _, err := Apply(ctx, root, bytes.NewReader(layer), ApplyOptions{Index: &index, NoSameOwner: true}); err != nil {
		t.Fatal(err)
	}
	idx := index.Bytes()
	var out bytes.Buffer
	if err := Rebuild(ctx, &out, root, bytes.NewReader(idx[:len(idx)-1])); !errors.Is(err, errdefs.ErrDataCorrupt) {
		t.Errorf("truncated index: got %v, want ErrDataCorrupt", err)
	}
	if err := Rebuild(ctx, &out, root, strings.NewReader("not an index")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("garbage index: got %v, want ErrInvalidArgument", err)
	}
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("longer content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Rebuild(ctx, &out, root, bytes.NewReader(idx)); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("modified file: got %v, want ErrFailedPrecondition", err)
	}
	// A hostile index cannot read outside root.
	var evil bytes.Buffer
	iw := newIndexWriter(&evil)
	iw.addFile("../secret", 3)
	if err := iw.close(); err != nil {
		t.Fatal(err)
	}
	if err := Rebuild(ctx, &out, root, &evil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("escaping index path: got %v, want ErrInvalidArgument", err)
	}
}
