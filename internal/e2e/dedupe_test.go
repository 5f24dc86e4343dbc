package e2e

import (
	"archive/tar"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/testutil"
)

// dedupeTrees writes two root filesystems with the same files and
// different directory mtimes (so their layers' digests differ): busybox, a
// 1 MiB random file, a small one and a hard link pair of the layer's own.
func dedupeTrees(t *testing.T) (a, b string) {
	t.Helper()
	dir := t.TempDir()
	a, b = filepath.Join(dir, "a"), filepath.Join(dir, "b")
	testutil.BusyboxRootfs(t, a)
	big := make([]byte, 1<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(a, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"data/big": big, "data/small": []byte("small\n"), "data/own": []byte("linked by the layer\n"),
		// Files the runtime mounts over: they must not be written through.
		"etc/hosts": []byte("127.0.0.1 localhost image\n"), "etc/resolv.conf": []byte("nameserver 127.0.0.53\n"), "etc/hostname": []byte("image\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(a, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(a, "data/own"), filepath.Join(a, "data/own2")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", a, b).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	old := time.Unix(1500000000, 0)
	err := filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// upper is the top layer's directory of an image.
func (u *user) upper(t *testing.T, image string) string {
	t.Helper()
	return u.inspect(t, "{{.GraphDriver.Data.UpperDir}}", image)
}

func statOf(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// storeBlocks is the disk the store takes, each inode counted once.
func storeBlocks(t *testing.T, root string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !seen[st.Ino] {
			seen[st.Ino] = true
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// poolEntries lists the file pool's entries.
func (u *user) poolEntries(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(u.root, "files", "sha256", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// eachTarEntry calls fn for every entry of the tar file p, with its data.
func eachTarEntry(t *testing.T, p string, fn func(h *tar.Header, data io.Reader)) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(h, tr)
	}
}

// tarHeaders lists a tar's entries as name, type, link, size, mode, owner
// and mtime.
func tarHeaders(t *testing.T, p string) []string {
	t.Helper()
	var out []string
	eachTarEntry(t, p, func(h *tar.Header, _ io.Reader) {
		out = append(out, fmt.Sprintf("%s %c %s %d %o %d:%d %d", h.Name, h.Typeflag, h.Linkname, h.Size, h.Mode, h.Uid, h.Gid, h.ModTime.Unix()))
	})
	sort.Strings(out)
	return out
}

// TestDedupe: two images whose layers differ only in directory mtimes, and
// an app COPY --link'ed onto both, store each file once; a container's
// writes never reach the other image or the pool; save, export, commit and
// diff give what a store without dedupe gives; gc after rmi empties the
// pool; with the switch off nothing is linked.
func TestDedupe(t *testing.T) {
	testutil.RequiresOverlay(t)
	a, b := dedupeTrees(t)
	ctxDir := t.TempDir()
	app := make([]byte, 512<<10)
	if _, err := rand.Read(app); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "app.bin"), app, 0o644); err != nil {
		t.Fatal(err)
	}
	// The same file as the base's data/small, metadata and all: after
	// dedupe the merged rootfs has one inode at two paths, which a tar of
	// it must not take for a hard link.
	small := filepath.Join(ctxDir, "small")
	if err := os.WriteFile(small, []byte("small\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st := statOf(t, filepath.Join(a, "data/small")); true {
		m := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
		if err := os.Chtimes(small, m, m); err != nil {
			t.Fatal(err)
		}
	}
	on, off := newUser(t), newUser(t)
	off.env = []string{"STRATA_DEDUPE=0"}
	for _, u := range []*user{on, off} {
		u.ok(t, "import", "--change", `CMD ["/bin/sh"]`, a, "deb-a")
		u.ok(t, "import", "--change", `CMD ["/bin/sh"]`, b, "deb-b")
		for _, base := range []string{"deb-a", "deb-b"} {
			df := "FROM " + base + "\nCOPY --link app.bin small /app/\n"
			if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
				t.Fatal(err)
			}
			u.ok(t, "build", "-q", "-t", "app-on-"+base, ctxDir)
		}
	}
	if on.inspect(t, "{{.RootFS.Layers}}", "deb-a") == on.inspect(t, "{{.RootFS.Layers}}", "deb-b") {
		t.Fatal("the two imports have the same layer: the test needs different digests")
	}

	// Shared inodes, and the layer's own hard link kept as it was.
	ua, ub := on.upper(t, "deb-a"), on.upper(t, "deb-b")
	for _, f := range []string{"bin/busybox", "data/big", "data/small"} {
		sa, sb := statOf(t, filepath.Join(ua, f)), statOf(t, filepath.Join(ub, f))
		if sa.Ino != sb.Ino {
			t.Errorf("%s: inodes %d and %d, want one shared", f, sa.Ino, sb.Ino)
		}
	}
	if sa, sb := statOf(t, filepath.Join(ua, "data/own")), statOf(t, filepath.Join(ua, "data/own2")); sa.Ino != sb.Ino || sa.Nlink != 2 {
		t.Errorf("the layer's own hard link: inodes %d %d nlink %d, want one inode with 2 links", sa.Ino, sb.Ino, sa.Nlink)
	}
	if sa, sb := statOf(t, filepath.Join(on.upper(t, "app-on-deb-a"), "app/app.bin")), statOf(t, filepath.Join(on.upper(t, "app-on-deb-b"), "app/app.bin")); sa.Ino != sb.Ino {
		t.Error("the COPY --link layer on two bases does not share app.bin")
	}
	if got, want := storeBlocks(t, on.root), storeBlocks(t, off.root); want-got < (1<<20)+(512<<10) {
		t.Errorf("store with dedupe %d bytes, without %d: want at least the big file and the app saved", got, want)
	}
	// df -v says what the sharing saves.
	poolLine := regexp.MustCompile(`(?m)^File pool: (\d+) files stored once, (\d+) of them shared: (\S+) less on disk`)
	if m := poolLine.FindStringSubmatch(on.ok(t, "system", "df", "-v").stdout); m == nil || m[2] == "0" || m[3] == "0B" {
		t.Errorf("system df -v with dedupe on: file pool line %q, want files shared and bytes saved", m)
	}
	if poolLine.MatchString(off.ok(t, "system", "df", "-v").stdout) {
		t.Error("system df -v with dedupe off shows a file pool")
	}
	// The switch off links nothing.
	if n := len(off.poolEntries(t)); n != 0 {
		t.Errorf("dedupe off: %d pool entries", n)
	}
	if st := statOf(t, filepath.Join(off.upper(t, "deb-a"), "data/big")); st.Nlink != 1 {
		t.Errorf("dedupe off: data/big has %d links", st.Nlink)
	}

	// A container of A writes a shared file: B's file and the pool stay.
	bigB := filepath.Join(ub, "data/big")
	before, stB := sha256File(t, bigB), *statOf(t, bigB)
	r := on.ok(t, "run", "--rm", "deb-a", "sh", "-c", "stat -c %h /data/big; echo changed >> /data/big; chmod 600 /data/small; touch /data/big; stat -c %h /data/big")
	if got := strings.Fields(r.stdout); len(got) != 2 || got[0] == "1" || got[1] != "1" {
		t.Errorf("link counts in the container before and after a write: %q, want >1 (the pool's links show) then 1 (copied up)", r.stdout)
	}
	if after, st := sha256File(t, bigB), statOf(t, bigB); after != before || st.Mtim != stB.Mtim || st.Ino != stB.Ino {
		t.Error("a write in a container of image A changed image B's file")
	}
	if st := statOf(t, filepath.Join(ub, "data/small")); st.Mode&0o777 != 0o644 {
		t.Errorf("chmod in a container of A changed B's file to %o", st.Mode&0o777)
	}
	// The other writers: the runtime's /etc files, cp into a container, a
	// build's RUN step (whose /etc/hosts is mounted read-only, as BuildKit's).
	etc := map[string]string{}
	for _, f := range []string{"etc/hosts", "etc/resolv.conf", "etc/hostname", "data/small"} {
		etc[f] = sha256File(t, filepath.Join(ub, f))
	}
	on.ok(t, "run", "--rm", "--hostname", "other", "--add-host", "h:127.0.0.2", "deb-a", "sh", "-c", "echo x >> /etc/hosts; echo y >> /etc/resolv.conf; echo z > /etc/hostname")
	on.ok(t, "create", "--name", "cpto", "deb-a", "true")
	newSmall := filepath.Join(t.TempDir(), "small")
	if err := os.WriteFile(newSmall, []byte("copied in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	on.ok(t, "cp", newSmall, "cpto:/data/small")
	if got := on.ok(t, "start", "-a", "cpto").stdout; got != "" {
		t.Logf("cpto: %q", got)
	}
	runDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(runDir, "Dockerfile"), []byte("FROM deb-a\nRUN echo more >> /data/big && chmod 600 /data/small\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	on.ok(t, "build", "-q", "-t", "run-on-a", runDir)
	for f, sum := range etc {
		if got := sha256File(t, filepath.Join(ub, f)); got != sum {
			t.Errorf("%s of image B changed after writes in image A's containers and build", f)
		}
	}
	if after := sha256File(t, bigB); after != before {
		t.Error("a build's RUN on image A changed image B's data/big")
	}
	if st := statOf(t, filepath.Join(ub, "data/small")); st.Mode&0o777 != 0o644 {
		t.Errorf("data/small of image B is mode %o after a RUN chmod on A", st.Mode&0o777)
	}
	on.ok(t, "rm", "cpto")
	on.ok(t, "rmi", "run-on-a")
	on.fsckClean(t) // re-hashes every pool entry

	// save (layers rebuilt from the snapshots for the built image), export,
	// diff and commit give the same bytes after `system dedupe` as before,
	// in the store that had it off.
	saves := func(u *user) map[string][]string {
		m := map[string][]string{}
		for _, img := range []string{"deb-a", "app-on-deb-b"} {
			out := filepath.Join(t.TempDir(), "save.tar")
			u.ok(t, "save", "-o", out, img)
			m[img] = layerDigests(t, out)
		}
		return m
	}
	export := func(u *user) []string {
		out := filepath.Join(t.TempDir(), "export.tar")
		u.ok(t, "export", "-o", out, "c")
		return tarHeaders(t, out)
	}
	off.ok(t, "create", "--name", "c", "app-on-deb-a", "true")
	off.ok(t, "run", "--name", "w1", "app-on-deb-a", "sh", "-c", "echo x >> /data/small")
	savesBefore, exportBefore := saves(off), export(off)
	commitBefore := off.ok(t, "commit", "w1", "committed1")
	off.env = []string{"STRATA_DEDUPE=1"}
	r = off.ok(t, "system", "dedupe")
	if !strings.Contains(r.stdout, "Total reclaimed space:") || strings.Contains(r.stdout, "space: 0B") {
		t.Errorf("system dedupe on a store of copies saved nothing: %q", r.stdout)
	}
	if sa, sb := statOf(t, filepath.Join(off.upper(t, "deb-a"), "data/big")), statOf(t, filepath.Join(off.upper(t, "deb-b"), "data/big")); sa.Ino != sb.Ino {
		t.Error("system dedupe did not share data/big")
	}
	if sa, sb := statOf(t, filepath.Join(off.upper(t, "deb-a"), "data/small")), statOf(t, filepath.Join(off.upper(t, "app-on-deb-a"), "app/small")); sa.Ino != sb.Ino {
		t.Error("system dedupe did not share data/small with the app's copy (the export check below needs one inode at two paths)")
	}
	if diff := cmp.Diff(savesBefore, saves(off)); diff != "" {
		t.Errorf("save: layer tars differ after dedupe (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(exportBefore, export(off)); diff != "" {
		t.Errorf("export differs after dedupe (-before +after):\n%s", diff)
	}
	if d := off.ok(t, "diff", "w1").stdout; d != "C /data\nC /data/small\n" {
		t.Errorf("diff: %q, want only /data/small changed", d)
	}
	off.ok(t, "commit", "w1", "committed2")
	if a, b := off.inspect(t, "{{.RootFS.Layers}}", "committed1"), off.inspect(t, "{{.RootFS.Layers}}", "committed2"); a != b {
		t.Errorf("commit before dedupe gave layers %s, after %s (%s)", a, b, commitBefore.stdout)
	}
	off.fsckClean(t)

	// gc after rmi removes the pool entries no snapshot uses.
	if len(on.poolEntries(t)) == 0 {
		t.Fatal("no pool entries before rmi")
	}
	on.ok(t, "rmi", "app-on-deb-a", "app-on-deb-b", "deb-a", "deb-b")
	on.ok(t, "builder", "prune", "-a", "-f") // the COPY --link layer is cached
	on.ok(t, "system", "prune", "-a", "-f")
	if left := on.poolEntries(t); len(left) != 0 {
		t.Errorf("after rmi and prune the pool holds %d entries", len(left))
	}
	on.fsckClean(t)
}

// layerDigests returns the sha256 of every layer tar in a docker save
// archive, in manifest order.
func layerDigests(t *testing.T, archivePath string) []string {
	t.Helper()
	var out []string
	eachTarEntry(t, archivePath, func(h *tar.Header, data io.Reader) {
		if h.Typeflag != tar.TypeReg || !(strings.HasSuffix(h.Name, "layer.tar") || strings.HasPrefix(h.Name, "blobs/")) {
			return
		}
		hash := sha256.New()
		if _, err := io.Copy(hash, data); err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name+" "+hex.EncodeToString(hash.Sum(nil)))
	})
	sort.Strings(out)
	return out
}

// TestDedupeKilled: a kill -9 in the middle of `strata system dedupe`
// leaves a store fsck calls clean, with the directories' times as they
// were, and a second run finishes the job.
func TestDedupeKilled(t *testing.T) {
	testutil.RequiresOverlay(t)
	u := newUser(t)
	u.env = []string{"STRATA_DEDUPE=0"}
	// One directory of many files: the pass renames for a while in it.
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if err := os.MkdirAll(filepath.Join(a, "many"), 0o755); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8<<10)
	for i := 0; i < 2000; i++ {
		if _, err := rand.Read(buf[:64]); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a, "many", fmt.Sprintf("f%04d", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := filepath.Join(dir, "b")
	if out, err := exec.Command("cp", "-a", a, b).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	old := time.Unix(1500000000, 0)
	for _, p := range []string{b, filepath.Join(b, "many")} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	u.ok(t, "import", a, "a")
	u.ok(t, "import", b, "b")
	many := filepath.Join(u.upper(t, "b"), "many")
	mtime := statOf(t, many).Mtim

	cmd := exec.Command(strataBin, "system", "dedupe")
	cmd.Env = append(os.Environ(), "STRATA_ROOT="+u.root, "STRATA_DEDUPE=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // ends when the pass ends or is killed below
	// The journal of a directory whose entries are being replaced: the
	// pass is in the middle of "many" of one of the two snapshots. It
	// lives for a moment only, so the condition is looked at every 1 ms.
	journals := filepath.Join(u.root, "files", "tmp", "dir-*")
	caught := false
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
poll:
	for {
		if m, _ := filepath.Glob(journals); len(m) > 0 {
			caught = true
			break
		}
		select {
		case <-exited:
			break poll
		case <-deadline:
			break poll
		case <-tick.C:
		}
	}
	_ = cmd.Process.Kill()
	<-exited
	if !caught {
		t.Fatal("system dedupe ended (or never began replacing files) before it could be caught mid-way")
	}
	u.fsckClean(t)
	if m, _ := filepath.Glob(journals); len(m) != 0 {
		t.Errorf("after the next command the journal is still there: %v", m)
	}
	if got := statOf(t, many).Mtim; got != mtime {
		t.Errorf("mtime of many/ is %v after the kill, want %v", got, mtime)
	}
	u.env = []string{"STRATA_DEDUPE=1"}
	r := u.ok(t, "system", "dedupe")
	if !strings.Contains(r.stdout, "Total reclaimed space:") {
		t.Errorf("dedupe output: %q", r.stdout)
	}
	if sa, sb := statOf(t, filepath.Join(u.upper(t, "a"), "many/f0001")), statOf(t, filepath.Join(many, "f0001")); sa.Ino != sb.Ino {
		t.Error("the second run did not finish sharing the files")
	}
	if got := statOf(t, many).Mtim; got != mtime {
		t.Errorf("mtime of many/ is %v after dedupe, want %v", got, mtime)
	}
	r = u.ok(t, "system", "dedupe")
	if !strings.Contains(r.stdout, "Total reclaimed space: 0B") {
		t.Errorf("a second dedupe saved something: %q", r.stdout)
	}
	u.fsckClean(t)
	u.env = []string{"STRATA_DEDUPE=0"}
	u.fails(t, nil, []string{"dedupe is off", "STRATA_DEDUPE"}, "system", "dedupe")
}
