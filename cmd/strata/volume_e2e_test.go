package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// volumeImage adds an image "vb" to root: busybox with /www (a page, owned
// by 33:33, mode 0750) declared a VOLUME, as a web image would.
func volumeImage(t *testing.T, root string) {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	www := filepath.Join(rootfs, "www")
	if err := os.MkdirAll(www, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("from the image\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{www, filepath.Join(www, "index.html")} {
		if err := os.Chown(p, 33, 33); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(www, 0o750); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "import", "-c", `CMD ["sh"]`, "-c", "VOLUME /www", rootfs, "vb")
}

func volumeNames(t *testing.T, root string, args ...string) []string {
	t.Helper()
	return strings.Fields(mustStrata(t, root, append([]string{"volume", "ls", "-q"}, args...)...))
}

// TestVolumes: the volume verbs and -v as docker's: data outlives its
// containers through a named volume, an empty volume gets the image's
// content (owners and modes kept), :ro refuses writes, anonymous volumes
// go with rm -v and --rm, rm of a volume in use names the container, and
// system df counts them.
func TestVolumes(t *testing.T) {
	root := containerRoot(t)
	volumeImage(t, root)

	if out := mustStrata(t, root, "volume", "create", "data"); out != "data\n" {
		t.Fatalf("volume create printed %q", out)
	}
	mustStrata(t, root, "run", "--rm", "-v", "data:/data", "bb", "sh", "-c", "echo persisted > /data/f")
	if out := mustStrata(t, root, "run", "--rm", "-v", "data:/data", "bb", "cat", "/data/f"); out != "persisted\n" {
		t.Errorf("a second container reads %q", out)
	}
	r := strata(t, root, "run", "--rm", "-v", "data:/data:ro", "bb", "sh", "-c", "cat /data/f; echo x > /data/g")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") || r.stdout != "persisted\n" {
		t.Errorf("write to a :ro volume: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// Made on first use, filled from the image (docker's copy-up).
	out := mustStrata(t, root, "run", "--rm", "-v", "site:/www", "vb", "sh", "-c", "ls -ln /www; stat -c '%u:%g %a' /www; cat /www/index.html")
	if !strings.Contains(out, "33:33 750") || !strings.Contains(out, "from the image") || !strings.Contains(out, "-rw-r-----") {
		t.Errorf("copy-up into a new volume:\n%s", out)
	}
	var insp []map[string]any
	if err := json.Unmarshal([]byte(mustStrata(t, root, "volume", "inspect", "site")), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("volume inspect: %v", err)
	}
	for _, k := range []string{"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"} {
		if _, ok := insp[0][k]; !ok {
			t.Errorf("volume inspect lacks %s: %v", k, insp[0])
		}
	}
	mp := insp[0]["Mountpoint"].(string)
	if mp != filepath.Join(root, "volumes", "site", "_data") {
		t.Errorf("Mountpoint %s", mp)
	}
	// Copied once per container, at its first start (as docker, at its
	// create): started again, a container finds what it left.
	mustStrata(t, root, "volume", "create", "once")
	if out := mustStrata(t, root, "run", "--name", "once", "-v", "once:/www", "vb", "sh", "-c", "ls /www; rm -f /www/index.html"); out != "index.html\n" {
		t.Errorf("first run of a container over an empty volume: %q", out)
	}
	if out := mustStrata(t, root, "start", "-a", "once"); out != "" {
		t.Errorf("the same container started again sees the image's content copied again: %q", out)
	}
	mustStrata(t, root, "rm", "once")
	mustStrata(t, root, "volume", "rm", "once")

	// Anonymous volumes: the image's VOLUME, and -v /path.
	before := volumeNames(t, root)
	mustStrata(t, root, "run", "--rm", "-v", "/scratch", "vb", "sh", "-c", "cat /www/index.html > /scratch/x")
	if after := volumeNames(t, root); len(after) != len(before) {
		t.Errorf("run --rm left anonymous volumes: %v -> %v", before, after)
	}
	mustStrata(t, root, "run", "--name", "keep", "vb", "true")
	anon := volumeNames(t, root, "--filter", "dangling=false")
	if len(anon) != 1 || len(anon[0]) != 64 {
		t.Fatalf("an anonymous volume for the image's VOLUME: %v", anon)
	}
	var mounts []map[string]any
	if err := json.Unmarshal([]byte(mustStrata(t, root, "inspect", "--format", "{{json .Mounts}}", "keep")), &mounts); err != nil || len(mounts) != 1 {
		t.Fatalf("inspect Mounts: %v %v", mounts, err)
	}
	if m := mounts[0]; m["Type"] != "volume" || m["Name"] != anon[0] || m["Destination"] != "/www" || m["Driver"] != "local" || m["RW"] != true {
		t.Errorf("inspect Mounts: %v", m)
	}
	r = strata(t, root, "volume", "rm", anon[0])
	if r.code != 1 || !strings.Contains(r.stderr, "volume is in use - [keep (") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("volume rm of one in use: exit %d %q", r.code, r.stderr)
	}
	mustStrata(t, root, "volume", "create", "shared")
	mustStrata(t, root, "run", "--name", "keep2", "-v", "shared:/s", "bb", "true")
	mustStrata(t, root, "rm", "keep2")
	if got := volumeNames(t, root, "--filter", "name=shared"); len(got) != 1 {
		t.Errorf("rm without -v removed a named volume: %v", got)
	}
	mustStrata(t, root, "rm", "-v", "keep")
	if got := volumeNames(t, root, "--filter", "name="+anon[0]); len(got) != 0 {
		t.Errorf("rm -v left the anonymous volume: %v", got)
	}

	// df: data (10 bytes, in use), site (15 bytes), shared (empty).
	mustStrata(t, root, "run", "-d", "--name", "user", "-v", "data:/data", "bb", "sleep", "60")
	var row []string
	df := mustStrata(t, root, "system", "df")
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(line, "Local Volumes") {
			row = strings.Fields(line)
		}
	}
	if len(row) < 6 || row[2] != "3" || row[3] != "1" || row[4] != "25B" || row[5] != "15B" {
		t.Errorf("Local Volumes row %q, want 3 volumes, 1 active, 25B, 15B reclaimable\n%s", row, df)
	}
	if dfv := mustStrata(t, root, "system", "df", "-v"); !strings.Contains(dfv, "Local Volumes space usage:") || !strings.Contains(dfv, "VOLUME NAME") {
		t.Errorf("df -v has no volume section:\n%s", dfv)
	}
	if got := volumeNames(t, root, "--filter", "dangling=true"); strings.Join(got, " ") != "shared site" {
		t.Errorf("dangling volumes %v, want shared site", got)
	}
	// prune: anonymous only by default (there are none left), -a the rest
	// that no container uses.
	if out := mustStrata(t, root, "volume", "prune", "-f"); out != "Total reclaimed space: 0B\n" {
		t.Errorf("prune without -a: %q", out)
	}
	out = mustStrata(t, root, "volume", "prune", "-f", "-a")
	if !strings.Contains(out, "Deleted Volumes:\nshared\nsite\n") {
		t.Errorf("prune -a: %q", out)
	}
	if got := volumeNames(t, root); strings.Join(got, " ") != "data" {
		t.Errorf("left after prune -a: %v", got)
	}
	if r := strata(t, root, "volume", "rm", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "No such volume: nosuch") {
		t.Errorf("volume rm nosuch: %d %q", r.code, r.stderr)
	}
	mustStrata(t, root, "volume", "rm", "-f", "nosuch")
}

// TestVolumeMountFlags: --mount as docker's, --volumes-from, the local
// driver's tmpfs and bind options; bad --mount and -v values exit 125
// with one line and make nothing.
func TestVolumeMountFlags(t *testing.T) {
	root := containerRoot(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "h"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustStrata(t, root, "run", "--rm",
		"--mount", "type=bind,src="+host+",dst=/h,readonly",
		"--mount", "type=volume,src=mv,dst=/v",
		"--mount", "type=tmpfs,dst=/t,tmpfs-size=1m",
		"bb", "sh", "-c", "cat /h/h; touch /h/x 2>/dev/null || echo ro; echo v > /v/f; df -k /t | tail -1")
	if !strings.HasPrefix(out, "host\nro\n") || !strings.Contains(out, "tmpfs") || !strings.Contains(out, " 1024 ") {
		t.Errorf("--mount bind, volume, tmpfs:\n%s", out)
	}
	if got := volumeNames(t, root); strings.Join(got, " ") != "mv" {
		t.Errorf("volumes %v, want mv", got)
	}

	mustStrata(t, root, "run", "--name", "src", "-v", "mv:/v", "-v", host+":/h", "bb", "true")
	out = mustStrata(t, root, "run", "--rm", "--volumes-from", "src:ro", "bb", "sh", "-c", "cat /v/f /h/h; echo x > /v/g 2>/dev/null || echo refused")
	if out != "v\nhost\nrefused\n" {
		t.Errorf("--volumes-from src:ro: %q", out)
	}

	// The local driver's options: a tmpfs, a bind of a host directory.
	mustStrata(t, root, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", "tv")
	if out := mustStrata(t, root, "run", "--rm", "-v", "tv:/tv", "bb", "sh", "-c", "df -k /tv | tail -1"); !strings.Contains(out, " 2048 ") {
		t.Errorf("a tmpfs volume: %q", out)
	}
	mustStrata(t, root, "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+host, "bv")
	if out := mustStrata(t, root, "run", "--rm", "-v", "bv:/bv", "bb", "cat", "/bv/h"); out != "host\n" {
		t.Errorf("a bind volume: %q", out)
	}

	before := volumeNames(t, root)
	for _, args := range [][]string{
		{"--mount", "type=foo,dst=/x"},
		{"--mount", "dst"},
		{"--mount", "src=/x"},
		{"--mount", "type=bind,src=/nonexist,dst=/x"},
		{"--mount", "type=tmpfs,src=x,dst=/x"},
		{"--mount", "bogus=1,dst=/x"},
		{"--mount", "type=volume,src=new1,dst=/x", "--mount", "type=volume,src=new2,dst=/x"},
		{"-v", "new3:/x", "--tmpfs", "/x"},
		{"-v", "new4:rel"},
		{"-v", "/a:/b:bogus"},
		{"--volumes-from", "nosuch"},
		{"--volumes-from", "src:rx"},
	} {
		for _, verb := range []string{"run", "create"} {
			r := strata(t, root, append(append([]string{verb, "--rm"}, args...), "bb", "true")...)
			if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") {
				t.Errorf("%s %v: exit %d, stderr %q; want one Error: line and 125", verb, args, r.code, r.stderr)
			}
		}
	}
	if after := volumeNames(t, root); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("refused runs left volumes: %v -> %v", before, after)
	}
	if ps := strings.Fields(mustStrata(t, root, "ps", "-aq")); len(ps) != 1 {
		t.Errorf("refused runs left containers: %v", ps)
	}
	// system prune --volumes: the anonymous volumes no container uses.
	mustStrata(t, root, "run", "--name", "a", "-v", "/anon", "bb", "true")
	mustStrata(t, root, "rm", "a")
	if got := volumeNames(t, root, "--filter", "dangling=true"); len(got) != 3 { // tv, bv and the anonymous one
		t.Fatalf("dangling before system prune: %v", got)
	}
	if out := mustStrata(t, root, "system", "prune", "-f", "--volumes"); !strings.Contains(out, "Deleted Volumes:\n") {
		t.Errorf("system prune --volumes:\n%s", out)
	}
	if got := volumeNames(t, root); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Errorf("after system prune --volumes: %v, want the named %v", got, before)
	}
}

// TestVolumeDataUnreadable: a host user other than root cannot reach a
// volume's data (the store and its volumes directory are 0700), even when
// the data itself is world-readable.
func TestVolumeDataUnreadable(t *testing.T) {
	store := reachableRoot(t)
	root := containerRootAt(t, store)
	mustStrata(t, root, "run", "--rm", "-v", "secret:/s", "bb", "sh", "-c", "echo token > /s/key; chmod 644 /s/key; chmod 755 /s")
	mp := strings.TrimSpace(mustStrata(t, root, "volume", "inspect", "--format", "{{.Mountpoint}}", "secret"))
	if b, err := os.ReadFile(filepath.Join(mp, "key")); err != nil || string(b) != "token\n" {
		t.Fatalf("the data as root: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "volumes")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("volumes dir: %v %v, want 0700", fi.Mode(), err)
	}
	out, err := asNobody(t, "cat "+filepath.Join(mp, "key")+"; ls "+mp, "")
	if err == nil || strings.Contains(out, "token") || !strings.Contains(out, "Permission denied") {
		t.Errorf("a host user reads the volume: %q (err %v)", out, err)
	}
}
