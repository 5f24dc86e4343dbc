package volume

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestStoreCreateGetListRemove(t *testing.T) {
	users := map[string][]string{}
	s, err := Open(filepath.Join(t.TempDir(), "volumes"), Options{InUse: func(n string) []string { return users[n] }})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(s.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("volumes dir: %v %v, want 0700", fi.Mode(), err)
	}
	v, made, err := s.Create(CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil || !made {
		t.Fatalf("create: %v %v", made, err)
	}
	if v.Mountpoint != filepath.Join(s.Dir(), "data", "_data") {
		t.Errorf("mountpoint %s", v.Mountpoint)
	}
	// Again: the same volume, not made.
	if v2, made, err := s.Create(CreateOptions{Name: "data"}); err != nil || made || v2.Labels["a"] != "b" {
		t.Fatalf("create again: %+v %v %v", v2, made, err)
	}
	anon, _, err := s.Create(CreateOptions{})
	if err != nil || len(anon.Name) != 64 {
		t.Fatalf("create without a name: %+v %v", anon, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	users["data"] = []string{"web (0123456789ab)"}
	if err := s.Remove("data"); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "volume is in use - [web (0123456789ab)]") {
		t.Fatalf("remove in use: %v", err)
	}
	delete(users, "data")
	if err := s.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("data"); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such volume: data") {
		t.Fatalf("get removed: %v", err)
	}
	for _, bad := range []CreateOptions{{Name: "a b"}, {Name: "x"}, {Name: "ok", Driver: "nfs"}, {Name: "ok", Options: map[string]string{"foo": "bar"}},
		{Name: "ok", Options: map[string]string{"type": "none", "o": "bind"}}} {
		if _, _, err := s.Create(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("create %+v: %v, want invalid argument", bad, err)
		}
	}
	if _, err := s.Get("ok"); !errdefs.IsNotFound(err) {
		t.Errorf("a refused create left a volume: %v", err)
	}
}

// A process killed while making a volume or filling it leaves staging
// directories named after its pid; the next open (or copy) removes them,
// and the volume is whole or absent.
func TestStoreKilledLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "volumes")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := s.Create(CreateOptions{Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	// A pid that is surely dead: a finished child's.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	leftCreate := filepath.Join(dir, creatingPrefix+itoa(dead)+"-abc")
	leftCopy := filepath.Join(dir, "data", copyPrefix+itoa(dead)+"-abc")
	for _, d := range []string{leftCreate, filepath.Join(leftCreate, "_data"), leftCopy} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Killed between the copy-up's renames: no _data.
	if err := os.Remove(v.Mountpoint); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftCreate); !os.IsNotExist(err) {
		t.Errorf("a dead process's half-made volume is still there: %v", err)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0].Name != "data" {
		t.Fatalf("list: %+v", list)
	}
	if fi, err := os.Stat(list[0].Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("_data not made again: %v", err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("image\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(src, 33, 44); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyUp(context.Background(), "data", src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftCopy); !os.IsNotExist(err) {
		t.Errorf("a dead process's copy is still there: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(v.Mountpoint, "f"))
	if err != nil || string(b) != "image\n" {
		t.Fatalf("copied: %q %v", b, err)
	}
	var st = statOwner(t, v.Mountpoint)
	if st != [2]int{33, 44} {
		t.Errorf("_data owner %v, want the image directory's 33:44", st)
	}
	// Not empty any more: a second copy changes nothing.
	if err := os.WriteFile(filepath.Join(src, "g"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyUp(context.Background(), "data", src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "g")); !os.IsNotExist(err) {
		t.Errorf("copied into a volume that was not empty")
	}
}

func TestResolve(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "volumes"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	points, made, err := s.Resolve(Request{
		Binds:     []string{"data:/data", host + ":/data/host:ro", "/anon"},
		Mounts:    []mount.Mount{{Type: mount.TypeTmpfs, Target: "/tmp"}},
		Anonymous: []string{"/data", "/image"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 3 || len(points) != 5 {
		t.Fatalf("made %v, points %+v", made, points)
	}
	if points[len(points)-1].Destination != "/data/host" {
		t.Errorf("a mount under another comes after it: %+v", points)
	}
	for _, p := range points {
		if p.Type == mount.TypeVolume && p.Name == "" {
			t.Errorf("volume without a name: %+v", p)
		}
		if (p.Destination == "/anon" || p.Destination == "/image") != p.Anonymous {
			t.Errorf("anonymous %v for %s", p.Anonymous, p.Destination)
		}
	}
	// A duplicate destination makes nothing.
	before, _ := s.List()
	if _, _, err := s.Resolve(Request{Binds: []string{"new1:/x", "new2:/x"}}); err == nil || !strings.Contains(err.Error(), "Duplicate mount point: /x") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, _, err := s.Resolve(Request{Binds: []string{"new3:/y"}, Taken: []string{"/y"}}); err == nil {
		t.Fatal("a -v over a --tmpfs path was accepted")
	}
	if after, _ := s.List(); len(after) != len(before) {
		t.Errorf("a refused request left volumes: %d before, %d after", len(before), len(after))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func statOwner(t *testing.T, p string) [2]int {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]int{int(st.Uid), int(st.Gid)}
}
