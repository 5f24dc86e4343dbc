package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// cpHeader is the first tar header of strata cp CTR:PATH -.
func cpHeader(t *testing.T, root, src string) *tar.Header {
	t.Helper()
	out, err := exec.Command(strataBin, "--root", root, "cp", src, "-").Output()
	if err != nil {
		t.Fatalf("cp %s -: %v", src, err)
	}
	hdr, err := tar.NewReader(bytes.NewReader(out)).Next()
	if err != nil {
		t.Fatalf("cp %s -: %v", src, err)
	}
	return hdr
}

// TestCpArchiveAndFollow: cp gives files copied in to the container's root
// and files copied out to the caller, unless -a keeps their uid and gid;
// a symlink source is copied as the link, unless -L copies what it points
// to under its name.
func TestCpArchiveAndFollow(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "create", "--name", "c", "bb", "true")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("data\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(in, 1234, 4321); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("in.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "cp", in, "c:/plain.txt")
	mustStrata(t, root, "cp", "-a", in, "c:/kept.txt")
	if h := cpHeader(t, root, "c:/plain.txt"); h.Uid != 0 || h.Gid != 0 {
		t.Errorf("cp in: owner %d:%d, want the container's root", h.Uid, h.Gid)
	}
	if h := cpHeader(t, root, "c:/kept.txt"); h.Uid != 1234 || h.Gid != 4321 {
		t.Errorf("cp -a in: owner %d:%d, want 1234:4321", h.Uid, h.Gid)
	}
	owner := func(p string) (uint32, uint32) {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid
	}
	out := t.TempDir()
	mustStrata(t, root, "cp", "c:/kept.txt", filepath.Join(out, "plain"))
	mustStrata(t, root, "cp", "--archive", "c:/kept.txt", filepath.Join(out, "kept"))
	if u, g := owner(filepath.Join(out, "plain")); u != uint32(os.Getuid()) || g != uint32(os.Getgid()) {
		t.Errorf("cp out: owner %d:%d, want the caller's", u, g)
	}
	if u, g := owner(filepath.Join(out, "kept")); u != 1234 || g != 4321 {
		t.Errorf("cp -a out: owner %d:%d, want 1234:4321", u, g)
	}

	// -L, in: the link's target under the link's name.
	mustStrata(t, root, "cp", filepath.Join(dir, "link"), "c:/asis")
	mustStrata(t, root, "cp", "-L", filepath.Join(dir, "link"), "c:/followed")
	if h := cpHeader(t, root, "c:/asis"); h.Typeflag != tar.TypeSymlink || h.Linkname != "in.txt" {
		t.Errorf("cp of a link in: %c -> %q, want the link", h.Typeflag, h.Linkname)
	}
	if h := cpHeader(t, root, "c:/followed"); h.Typeflag != tar.TypeReg || h.Name != "followed" || h.Size != 5 {
		t.Errorf("cp -L of a link in: %c %s (%d bytes), want its target's 5 bytes", h.Typeflag, h.Name, h.Size)
	}
	// -L, out: the container's link to /etc/data.txt.
	mustStrata(t, root, "cp", filepath.Join(dir, "link"), "c:/etc/") // a link whose target is absent in the container
	if err := os.Symlink("/etc/data.txt", filepath.Join(dir, "abs")); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "cp", filepath.Join(dir, "abs"), "c:/abs")
	mustStrata(t, root, "cp", "c:/abs", filepath.Join(out, "abs"))
	mustStrata(t, root, "cp", "-L", "c:/abs", filepath.Join(out, "data"))
	if l, err := os.Readlink(filepath.Join(out, "abs")); err != nil || l != "/etc/data.txt" {
		t.Errorf("cp of a link out: %q, %v; want the link", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "data")); err != nil || string(b) != "original\n" {
		t.Errorf("cp -L of a link out: %q, %v; want the container's /etc/data.txt", b, err)
	}
}
