package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSystemPruneRemovesStalePushSessions: `strata system prune` removes
// the upload sessions cut pushes left more than a day ago and keeps the
// younger ones, which the next push may still resume.
func TestSystemPruneRemovesStalePushSessions(t *testing.T) {
	u := newUser(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "f"), []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u.ok(t, "import", rootfs, "img:1")
	dir := filepath.Join(u.root, "push-sessions")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]time.Duration{"0000young": time.Hour, "0000old": 25 * time.Hour, "0000old.tmp": 48 * time.Hour}
	for name, age := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("127.0.0.1:5000/app@sha256:x\nhttp://127.0.0.1:5000/v2/app/blobs/uploads/"+name), 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	u.ok(t, "system", "prune", "-f")
	for name, age := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := os.IsNotExist(err); gone != (age > 24*time.Hour) {
			t.Errorf("%s, %v old: gone %v after system prune", name, age, gone)
		}
	}
	u.fsckClean(t)
}
