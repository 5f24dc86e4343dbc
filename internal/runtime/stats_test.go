package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// The cgroup and /proc files stats reads, as the kernel writes them on v1
// and v2.
func TestStatsFileParsers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if r, w := blkioV1(write("blkio", "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 4608\n8:0 Total 4608\n8:16 Read 100\nTotal 4708\n")); r != 4196 || w != 512 {
		t.Errorf("blkio v1: read %d write %d, want 4196 512", r, w)
	}
	if r, w := ioStatV2(write("io.stat", "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0\n")); r != 4196 || w != 512 {
		t.Errorf("io.stat: read %d write %d, want 4196 512", r, w)
	}
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:    2048       5    0    0    0     0          0         0      512       3    0    0    0     0       0          0
`
	if rx, tx := netDev(write("dev", dev)); rx != 2048 || tx != 512 {
		t.Errorf("net/dev: rx %d tx %d, want 2048 512 (lo left out)", rx, tx)
	}
	for body, want := range map[string]int64{
		"low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n": 1,
		"oom_kill_disable 0\nunder_oom 0\noom_kill 4\n":               4,
		"oom_kill_disable 0\nunder_oom 0\n":                           0,
	} {
		if got := oomKills([]byte(body)); got != want {
			t.Errorf("oomKills(%q) = %d, want %d", body, got, want)
		}
	}
	kv, err := readKV(write("memory.stat", "cache 10\ntotal_inactive_file 4096\nbogus x\n"))
	if err != nil || kv["total_inactive_file"] != 4096 || len(kv) != 2 {
		t.Errorf("memory.stat: %v, %v", kv, err)
	}
	if n, err := readUint(write("memory.max", "max\n")); err != nil || n != 0 {
		t.Errorf(`readUint("max") = %d, %v, want 0 (no limit)`, n, err)
	}
}
