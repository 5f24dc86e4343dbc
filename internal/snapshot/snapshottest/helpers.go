package snapshottest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-project/strata/internal/mount"
	"github.com/strata-project/strata/internal/snapshot"
)

// RequiresRoot skips t when the process cannot mount.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("snapshot tests mount filesystems and need root (euid 0); run them as root or in a user namespace with mount rights")
	}
}

// mountTemp mounts mounts on a new temporary directory and unmounts it when
// the test ends.
func mountTemp(t testing.TB, mounts []mount.Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mount.UnmountAll(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	return target
}

func unmount(t testing.TB, target string) {
	t.Helper()
	if err := mount.UnmountAll(target, 0); err != nil {
		t.Fatal(err)
	}
}

// writeFiles writes files (path → content) under dir, making parents.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// commitLayer prepares a snapshot on parent, writes files through its
// mount, and commits it as name.
func commitLayer(t testing.TB, ctx context.Context, sn snapshot.Snapshotter, name, parent string, files map[string]string) {
	t.Helper()
	key := "extract " + name
	mounts, err := sn.Prepare(ctx, key, parent)
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts)
	writeFiles(t, target, files)
	unmount(t, target)
	if err := sn.Commit(ctx, name, key); err != nil {
		t.Fatal(err)
	}
}

// checkFiles checks that each path in want has that content under dir, and
// each path in absent does not exist.
func checkFiles(t testing.TB, dir string, want map[string]string, absent ...string) {
	t.Helper()
	for p, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			continue
		}
		if string(b) != content {
			t.Errorf("%s: got %q, want %q", p, b, content)
		}
	}
	for _, p := range absent {
		if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %v, want it absent", p, err)
		}
	}
}

// tree records every entry under dir with its mode and content, to compare
// a directory before and after.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		v := fmt.Sprintf("%v %d", fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
