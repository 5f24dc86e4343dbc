package content

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A store root is private to its owner; one made by an earlier version
// (0711, 0755) is repaired on open; a shared directory is refused.
func TestOpenMakesRootPrivate(t *testing.T) {
	for name, mode := range map[string]os.FileMode{"new": 0, "old engine store": 0o711, "old registry root": 0o755} {
		t.Run(name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "store")
			if mode != 0 {
				if err := os.Mkdir(root, mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(root, mode) // past the umask
			}
			if _, err := Open(root); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(root)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o700 {
				t.Errorf("root mode %04o, want 0700", got)
			}
		})
	}
	t.Run("empty mount point", func(t *testing.T) {
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(mnt, 0o777|os.ModeSticky) // as a fresh tmpfs
		if _, err := Open(mnt); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(mnt); fi.Mode().Perm() != 0o700 || fi.Mode()&os.ModeSticky != 0 {
			t.Errorf("mode %v, want 0700", fi.Mode())
		}
	})
	t.Run("shared", func(t *testing.T) {
		shared := filepath.Join(t.TempDir(), "tmp")
		if err := os.Mkdir(shared, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(shared, 0o777|os.ModeSticky)
		if err := os.WriteFile(filepath.Join(shared, "someone-elses"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(shared)
		if err == nil || !strings.Contains(err.Error(), "shared directory") {
			t.Fatalf("Open(sticky dir) = %v, want a shared-directory error", err)
		}
		if fi, _ := os.Stat(shared); fi.Mode()&os.ModeSticky == 0 {
			t.Errorf("the shared directory was changed: %v", fi.Mode())
		}
	})
}
