package archive

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSetTarTimes: after SetTarTimes a tree has, to the nanosecond, the
// mtimes its tar unpacks to; a file linked from outside the tree keeps its own.
func TestSetTarTimes(t *testing.T) {
	ctx := context.Background()
	epoch := fixedTime.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		o    WriteOptions
		want int64 // seconds every entry ends with
	}{
		{"seconds", WriteOptions{}, fixedTime.Unix()},
		{"epoch", WriteOptions{SourceDateEpoch: &epoch}, epoch.Unix()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			f := fixture{t, filepath.Join(base, "tree")}
			f.dir(".", 0o755)
			f.dir("d/e", 0o755)
			f.file("d/e/f", "f", 0o644)
			f.file("d/g", "g", 0o600)
			f.symlink("d/l", "g")
			f.file("own", "x", 0o644)
			f.must(os.Link(f.path("own"), f.path("d/own2")))
			f.file("shared", "s", 0o644)
			f.must(os.Link(f.path("shared"), filepath.Join(base, "outside")))
			ns := unix.NsecToTimespec(fixedTime.Add(700 * time.Millisecond).UnixNano())
			f.must(filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ns, ns}, unix.AT_SYMLINK_NOFOLLOW)
			}))

			if err := SetTarTimes(ctx, f.root, tc.o); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteDir(ctx, &buf, f.root, tc.o); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(base, "out")
			f.must(os.Mkdir(out, 0o755))
			if _, err := Apply(ctx, out, &buf, ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			mtime := func(p string) unix.Timespec {
				var st unix.Stat_t
				f.must(unix.Lstat(p, &st))
				return st.Mtim
			}
			if got := mtime(f.root); got != ns {
				t.Errorf("root: mtime %v, want %v as before (not an entry of the tar)", got, ns)
			}
			for _, rel := range []string{"d", "d/e", "d/e/f", "d/g", "d/l", "own", "d/own2", "shared"} {
				got, unpacked := mtime(f.path(rel)), mtime(filepath.Join(out, rel))
				if rel == "shared" {
					if got != ns {
						t.Errorf("shared: mtime %v, want %v as before (linked from outside)", got, ns)
					}
					continue
				}
				if want := (unix.Timespec{Sec: tc.want}); got != want || unpacked != want {
					t.Errorf("%s: mtime %v, unpacked %v, want %v", rel, got, unpacked, want)
				}
			}
		})
	}
}
