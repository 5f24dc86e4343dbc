package testutil

import (
	"archive/tar"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTarBuilder(t *testing.T) {
	tb := NewTar().
		Dir("a", 0o755).
		File("a/b", []byte("x"), 0o644).
		Symlink("l", "../../etc").
		Hardlink("h", "a/b").
		Whiteout("a/gone").
		Opaque("a")
	tr := tar.NewReader(tb.Reader())
	var got []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(h.Typeflag)+" "+h.Name+" "+h.Linkname)
	}
	want := []string{"5 a/ ", "0 a/b ", "2 l ../../etc", "1 h a/b", "0 a/.wh.gone ", "0 a/.wh..wh..opq "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if string(NewTar().File("x", []byte("1"), 0o644).Bytes()) != string(NewTar().File("x", []byte("1"), 0o644).Bytes()) {
		t.Error("same calls gave different bytes")
	}
}
