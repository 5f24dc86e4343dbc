package container

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	units "github.com/docker/go-units"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
	"github.com/strata-project/strata/internal/testutil"
)

// cgroupFile reads a file of container id's cgroup: under the v1
// controller's hierarchy, or the v2 file named v2.
func cgroupFile(t *testing.T, id, controller, v1, v2 string) string {
	t.Helper()
	p := filepath.Join("/sys/fs/cgroup", controller, cgroupsPath(id), v1)
	if runtime.Cgroups().V2 {
		p = filepath.Join("/sys/fs/cgroup", cgroupsPath(id), v2)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// startDetached creates and starts a detached container.
func startDetached(t *testing.T, s *Store, opts CreateOptions) *Container {
	t.Helper()
	ctx := context.Background()
	c, err := s.Create(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, c.ID, StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// A fork bomb under --pids-limit 64 stops at 64 processes, and the host
// can still start processes meanwhile.
func TestPidsLimitForkBomb(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	opts := baseOptions(chain, "sh", "-c", `f() { f | f & }; f; sleep 1000`)
	opts.Resources.PidsLimit = 64
	c := startDetached(t, s, opts)
	if got := cgroupFile(t, c.ID, "pids", "pids.max", "pids.max"); got != "64" {
		t.Fatalf("pids.max = %s, want 64", got)
	}
	// The bomb has hit the limit once a fork was refused.
	testutil.WaitFor(t, "a fork refused at the pids limit", func() bool {
		ev := cgroupFile(t, c.ID, "pids", "pids.events", "pids.events")
		for _, line := range strings.Split(ev, "\n") {
			if n, ok := strings.CutPrefix(line, "max "); ok && n != "0" {
				return true
			}
		}
		return false
	})
	n, _ := strconv.Atoi(cgroupFile(t, c.ID, "pids", "pids.current", "pids.current"))
	if n > 64 {
		t.Errorf("pids.current = %d, over the limit of 64", n)
	}
	if out, err := exec.Command("sh", "-c", "echo host ok").CombinedOutput(); err != nil || string(out) != "host ok\n" {
		t.Errorf("host could not run a process during the bomb: %q, %v", out, err)
	}
	if err := s.Kill(context.Background(), c.ID, 9); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code, err := s.Wait(ctx, c.ID); err != nil || code != 137 {
		t.Errorf("wait after kill: %d, %v, want 137", code, err)
	}
}

// An allocation past --memory 64m is OOM-killed: exit 137 and OOMKilled;
// a run under the limit is not marked.
func TestMemoryLimitOOMKilled(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	for _, tt := range []struct {
		name     string
		bytes    int
		wantCode int
		wantOOM  bool
	}{
		{"past the limit", 300 << 20, 137, true},
		{"under the limit", 1 << 20, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(chain, "sh", "-c", `x=$(head -c `+strconv.Itoa(tt.bytes)+` /dev/zero | tr '\0' a); echo ${#x}`)
			opts.Resources.Memory = 64 << 20
			c, err := s.Create(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Start(context.Background(), c.ID, StartOptions{}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			code, err := s.Wait(ctx, c.ID)
			if err != nil || code != tt.wantCode {
				t.Errorf("exit %d, %v, want %d", code, err, tt.wantCode)
			}
			d, err := s.Inspect(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.State.OOMKilled != tt.wantOOM {
				t.Errorf("OOMKilled = %v, want %v", d.State.OOMKilled, tt.wantOOM)
			}
		})
	}
}

// --cpus 0.5 is a CFS quota of 50,000 µs per 100,000, read from the
// cgroup; the other limits reach theirs; update changes them on the
// running container and in its record.
func TestCPUQuotaAndUpdate(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	opts := baseOptions(chain, "sleep", "1000")
	opts.Resources = runtime.Resources{NanoCPUs: 5e8, Memory: 64 << 20, CPUShares: 512, PidsLimit: 100}
	c := startDetached(t, s, opts)
	quota := func() string {
		if runtime.Cgroups().V2 {
			return cgroupFile(t, c.ID, "", "", "cpu.max")
		}
		return cgroupFile(t, c.ID, "cpu", "cpu.cfs_quota_us", "") + " " + cgroupFile(t, c.ID, "cpu", "cpu.cfs_period_us", "")
	}
	if got := quota(); got != "50000 100000" {
		t.Errorf("cpu quota and period %q, want 50000 100000", got)
	}
	if got := cgroupFile(t, c.ID, "memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
		t.Errorf("memory limit %s, want 67108864", got)
	}

	_, err := s.Update(context.Background(), c.ID, func(r *runtime.Resources) error {
		r.Memory, r.MemorySwap, r.NanoCPUs, r.PidsLimit = 128<<20, 256<<20, 15e8, 0
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, c.ID, "memory", "memory.limit_in_bytes", "memory.max"); got != "134217728" {
		t.Errorf("memory limit after update %s, want 134217728", got)
	}
	if got := quota(); got != "150000 100000" {
		t.Errorf("cpu quota after update %q, want 150000 100000", got)
	}
	if got := cgroupFile(t, c.ID, "pids", "pids.max", "pids.max"); got != "max" {
		t.Errorf("pids.max after update to unlimited %s, want max", got)
	}
	rec, err := s.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := rec.Options.Resources; r.Memory != 128<<20 || r.NanoCPUs != 15e8 || r.CPUShares != 512 || r.PidsLimit != 0 {
		t.Errorf("record after update: %+v", r)
	}

	// A bad update changes nothing.
	_, err = s.Update(context.Background(), c.ID, func(r *runtime.Resources) error {
		r.NanoCPUs = -1
		return nil
	})
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("update --cpus -1: %v, want invalid argument", err)
	}
	if got := quota(); got != "150000 100000" {
		t.Errorf("cpu quota after a refused update %q, want 150000 100000", got)
	}

	st, err := func() (runtime.Stats, error) { _, st, err := s.Stats(context.Background(), c.ID); return st, err }()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids != 1 || st.MemUsage == 0 || st.MemLimit != 128<<20 || st.CPUUsage == 0 || st.SystemUsage == 0 {
		t.Errorf("stats of a running sleep: %+v", st)
	}
}

// Ulimits and --shm-size reach the process.
func TestUlimitAndShmSize(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	opts := baseOptions(chain, "sh", "-c", `ulimit -n; ulimit -Hn; ulimit -s; df -k /dev/shm | tail -1`)
	opts.AutoRemove = true
	opts.Resources.Ulimits = []*units.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "stack", Soft: 4096 * 1024, Hard: 4096 * 1024}}
	opts.Resources.ShmSize = 128 << 20
	out, errOut, code, err := run(t, s, opts)
	if err != nil || code != 0 {
		t.Fatalf("code %d, %v, %s", code, err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != "100" || lines[1] != "200" || lines[2] != "4096" || !strings.Contains(lines[3], " 131072 ") {
		t.Errorf("ulimits and /dev/shm: %q, want 100, 200, 4096 and a 131072k /dev/shm", out)
	}
}

// Bad limits are refused by Create with a line naming the value, and
// nothing is created.
func TestCreateRefusesBadResources(t *testing.T) {
	s, chain := newStore(t, snapshotters[0])
	for _, tt := range []struct {
		name string
		r    runtime.Resources
		want string
	}{
		{"negative cpus", runtime.Resources{NanoCPUs: -1e9}, "--cpus -1: want a number of CPUs from 0.01"},
		{"too many cpus", runtime.Resources{NanoCPUs: 1e15}, "--cpus 1000000: want"},
		{"tiny memory", runtime.Resources{Memory: 1024}, "--memory 1KiB: the smallest memory limit is 6m"},
		{"swap without memory", runtime.Resources{MemorySwap: 64 << 20}, "--memory-swap needs --memory"},
		{"swap under memory", runtime.Resources{Memory: 64 << 20, MemorySwap: 32 << 20}, "--memory-swap 32MiB: want at least --memory (64MiB)"},
		{"reservation over memory", runtime.Resources{Memory: 64 << 20, MemoryReservation: 128 << 20}, "--memory-reservation 128MiB: want at most --memory"},
		{"cpuset", runtime.Resources{CpusetCpus: "4000"}, `--cpuset-cpus "4000": CPU 4000 is not available`},
		{"cpuset syntax", runtime.Resources{CpusetCpus: "1-0"}, `--cpuset-cpus "1-0": want CPU numbers and ranges`},
		{"ulimit name", runtime.Resources{Ulimits: []*units.Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}}, `--ulimit "bogus": unknown resource`},
		{"ulimit order", runtime.Resources{Ulimits: []*units.Ulimit{{Name: "nofile", Soft: 10, Hard: 5}}}, "--ulimit nofile=10:5: the soft limit must not exceed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(chain, "true")
			opts.Resources = tt.r
			_, err := s.Create(context.Background(), opts)
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line with %q", err, tt.want)
			}
		})
	}
	if ids, _ := s.ids(); len(ids) != 0 {
		t.Errorf("refused creates left containers: %v", ids)
	}
}
