package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// The index written alongside WriteDir, WriteDiff and WriteOverlayDiff
// rebuilds the same tar from the tree the layer leads to, as the one Apply
// writes does.
func TestWriteIndexRebuilds(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	rich := richTree(t)
	big := filepath.Join(rich, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("0123456789"), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	base := baseLayer().Bytes()
	lower, upper := t.TempDir(), t.TempDir()
	applyAll(t, lower, base)
	applyAll(t, upper, base)
	u := fixture{t, upper}
	u.must(os.Remove(u.path("etc/motd")))
	u.file("etc/hosts", "127.0.0.1 localhost\n10.0.0.1 db\n", 0o644)
	u.file("var/cache/new", strings.Repeat("n", 1000), 0o644)
	u.file("empty-file", "", 0o644)

	tests := map[string]struct {
		root  string // what Rebuild reads
		write func(w *bytes.Buffer, opts WriteOptions) error
	}{
		"WriteDir": {rich, func(w *bytes.Buffer, o WriteOptions) error { return WriteDir(ctx, w, rich, o) }},
		"WriteDir clamped": {rich, func(w *bytes.Buffer, o WriteOptions) error {
			at := testutil.TarModTime
			o.SourceDateEpoch, o.NormalizeOwner = &at, true
			return WriteDir(ctx, w, rich, o)
		}},
		"WriteDiff":        {upper, func(w *bytes.Buffer, o WriteOptions) error { return WriteDiff(ctx, w, lower, upper, o) }},
		"WriteOverlayDiff": {upper, func(w *bytes.Buffer, o WriteOptions) error { return WriteOverlayDiff(ctx, w, upper, o) }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var plain, tarBuf, index bytes.Buffer
			if err := tt.write(&plain, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := tt.write(&tarBuf, WriteOptions{Index: &index}); err != nil {
				t.Fatal(err)
			}
			if name != "WriteDir clamped" && !bytes.Equal(plain.Bytes(), tarBuf.Bytes()) {
				t.Errorf("writing an index changed the tar (%d bytes, %d without)", tarBuf.Len(), plain.Len())
			}
			if name == "WriteDir" && index.Len() > 64<<10 {
				t.Errorf("index is %d bytes for a %d byte tar: payloads leaked into it", index.Len(), tarBuf.Len())
			}
			var rebuilt bytes.Buffer
			if err := Rebuild(ctx, &rebuilt, tt.root, bytes.NewReader(index.Bytes())); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rebuilt.Bytes(), tarBuf.Bytes()) {
				t.Errorf("rebuilt tar differs: %d bytes, want %d", rebuilt.Len(), tarBuf.Len())
			}
		})
	}
}
