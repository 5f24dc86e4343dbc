package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWalkBeneathMatchesOpenat2 checks the fallback resolver against the
// kernel's RESOLVE_BENEATH on the same paths.
func TestWalkBeneathMatchesOpenat2(t *testing.T) {
	f := fixture{t, t.TempDir()}
	f.dir("usr/lib", 0o755)
	f.file("usr/lib/libc.so", "elf", 0o644)
	f.file("etc/passwd", "root", 0o644)
	f.symlink("lib", "usr/lib")
	f.symlink("usr/lib/up", "../..")
	f.symlink("usr/lib/self", ".")
	f.symlink("abs", "/etc")
	f.symlink("esc", "../..")
	f.symlink("loop1", "loop2")
	f.symlink("loop2", "loop1")
	f.symlink("file-link", "etc/passwd")
	f.symlink("dangling", "nowhere")
	rootfd, err := unix.Open(f.root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootfd)

	paths := []string{
		".", "usr", "usr/lib", "lib", "lib/libc.so", "lib/up", "lib/up/etc/passwd", "lib/self/self/libc.so",
		"lib/../etc", "abs", "abs/passwd", "esc", "esc/x", "loop1", "loop1/x", "file-link", "file-link/x",
		"dangling", "missing/x", "etc/passwd/x", "usr/lib/up/..", "..", "lib/../../x",
	}
	flagSets := []int{unix.O_PATH | unix.O_DIRECTORY, unix.O_RDONLY, unix.O_RDONLY | unix.O_NOFOLLOW, unix.O_PATH}
	describe := func(fd int, err error) string {
		if err != nil {
			return err.Error()
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "fstat: " + err.Error()
		}
		return fmt.Sprintf("inode %d", st.Ino)
	}
	for _, p := range paths {
		for _, flags := range flagSets {
			kfd, kerr := unix.Openat2(rootfd, p, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: beneath})
			if errors.Is(kerr, unix.ENOSYS) {
				t.Skip("skipping: no openat2 to compare with")
			}
			want := describe(kfd, kerr)
			got := describe(walkBeneath(rootfd, p, flags))
			if got != want {
				t.Errorf("%q flags %#x: walkBeneath gives %s, openat2 gives %s", p, flags, got, want)
			}
		}
	}
}

// TestApplyWithoutOpenat2 runs the Apply safety and semantics tests on the
// fallback resolver.
func TestApplyWithoutOpenat2(t *testing.T) {
	useOpenat2.Store(false)
	defer useOpenat2.Store(true)
	t.Run("hostile", TestApplyHostile)
	t.Run("relative symlink parent", TestApplyRelativeSymlinkParent)
	t.Run("whiteouts and replace", TestApplyWhiteoutsAndReplace)
	t.Run("rebuild", TestRebuildByteIdentical)
	for name, data := range applySeeds() {
		t.Run("fuzz seed "+name, func(t *testing.T) {
			parent, root := sandbox(t)
			before := outsideRoot(t, parent)
			Apply(context.Background(), root, bytes.NewReader(data), ApplyOptions{})
			checkOutside(t, parent, before)
		})
	}
}
