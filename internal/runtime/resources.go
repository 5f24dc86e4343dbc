package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// Resources are docker's resource flags (run, create, update) in docker's
// units and with the names of docker inspect's HostConfig fields. The zero
// value is uncapped, as in docker.
type Resources struct {
	// Memory is --memory in bytes (0: no limit).
	Memory int64 `json:"Memory,omitempty"`
	// MemorySwap is --memory-swap: memory plus swap in bytes, -1 for
	// unlimited swap, 0 for docker's default (twice Memory).
	MemorySwap int64 `json:"MemorySwap,omitempty"`
	// MemoryReservation is --memory-reservation, the soft limit, in bytes.
	MemoryReservation int64 `json:"MemoryReservation,omitempty"`
	// NanoCPUs is --cpus in billionths of a CPU (0.5 CPU = 500000000).
	NanoCPUs int64 `json:"NanoCpus,omitempty"`
	// CPUShares is --cpu-shares, the relative weight (docker's default is
	// the kernel's 1024).
	CPUShares int64 `json:"CpuShares,omitempty"`
	// CpusetCpus is --cpuset-cpus: a list such as 0-2,4.
	CpusetCpus string `json:"CpusetCpus,omitempty"`
	// PidsLimit is --pids-limit; 0 (docker's 0 and -1 too) is unlimited.
	PidsLimit int64 `json:"PidsLimit,omitempty"`
	// Ulimits are --ulimit NAME=SOFT[:HARD], set as the process's rlimits.
	Ulimits []*units.Ulimit `json:"Ulimits,omitempty"`
	// ShmSize is --shm-size, /dev/shm's size in bytes (0: 64 MiB).
	ShmSize int64 `json:"ShmSize,omitempty"`
	// OomKillDisable is --oom-kill-disable (cgroup v1 only).
	OomKillDisable bool `json:"OomKillDisable,omitempty"`
}

// DefaultShmSize is /dev/shm's size when --shm-size is not given: 64 MiB,
// as docker's.
const DefaultShmSize = 64 << 20

// minMemory is docker's smallest --memory (below it the container cannot
// even start its runtime).
const minMemory = 6 << 20

// cpuPeriod is the CFS period --cpus is expressed over, in µs (docker's).
const cpuPeriod = 100000

// Normalize applies docker's defaults to values left unset: --memory-swap
// twice --memory (or -1, unlimited swap, where the host has no swap
// accounting), a non-positive --pids-limit is unlimited.
func (r *Resources) Normalize() {
	if r.PidsLimit < 0 {
		r.PidsLimit = 0
	}
	if r.Memory > 0 && r.MemorySwap == 0 {
		r.MemorySwap = 2 * r.Memory
	}
	if r.MemorySwap > 0 && !Cgroups().SwapLimit {
		r.MemorySwap = -1
	}
}

// Validate checks r as docker's daemon does, with one line naming the
// value and what is accepted. It is the only check: every front end
// (create, run, update) calls it before anything is changed.
func (r *Resources) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
	}
	ncpu := int64(goruntime.NumCPU())
	switch {
	case r.Memory < 0:
		return bad("--memory %d: want a size of at least 6m", r.Memory)
	case r.Memory > 0 && r.Memory < minMemory:
		return bad("--memory %s: the smallest memory limit is 6m (6 MiB)", units.BytesSize(float64(r.Memory)))
	case r.MemorySwap < -1:
		return bad("--memory-swap %d: want a size at least --memory's, or -1 for unlimited swap", r.MemorySwap)
	case r.MemorySwap != 0 && r.Memory == 0:
		return bad("--memory-swap needs --memory: it is memory plus swap")
	case r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return bad("--memory-swap %s: want at least --memory (%s): it is memory plus swap, or -1 for unlimited swap", units.BytesSize(float64(r.MemorySwap)), units.BytesSize(float64(r.Memory)))
	case r.MemoryReservation < 0:
		return bad("--memory-reservation %d: want a size", r.MemoryReservation)
	case r.Memory > 0 && r.MemoryReservation > r.Memory:
		return bad("--memory-reservation %s: want at most --memory (%s)", units.BytesSize(float64(r.MemoryReservation)), units.BytesSize(float64(r.Memory)))
	case r.NanoCPUs != 0 && (r.NanoCPUs < 1e7 || r.NanoCPUs > ncpu*1e9):
		return bad("--cpus %s: want a number of CPUs from 0.01 to %d (this host has %d)", FormatCPUs(r.NanoCPUs), ncpu, ncpu)
	case r.CPUShares < 0:
		return bad("--cpu-shares %d: want a non-negative weight (the default is 1024)", r.CPUShares)
	case r.ShmSize < 0:
		return bad("--shm-size %d: want a positive size", r.ShmSize)
	}
	if r.CpusetCpus != "" {
		cpus, err := parseCPUList(r.CpusetCpus)
		if err != nil {
			return bad("--cpuset-cpus %q: want CPU numbers and ranges such as 0-1,3", r.CpusetCpus)
		}
		for _, c := range cpus {
			if int64(c) >= ncpu {
				return bad("--cpuset-cpus %q: CPU %d is not available (this host has 0-%d)", r.CpusetCpus, c, ncpu-1)
			}
		}
	}
	for _, u := range r.Ulimits {
		if _, ok := rlimitNames[u.Name]; !ok {
			return bad("--ulimit %q: unknown resource (want one of %s)", u.Name, strings.Join(RlimitNames(), ", "))
		}
		if u.Soft > u.Hard {
			return bad("--ulimit %s=%d:%d: the soft limit must not exceed the hard limit", u.Name, u.Soft, u.Hard)
		}
	}
	if r.OomKillDisable {
		if cg := Cgroups(); cg.V2 || !cg.OomControl {
			return bad("--oom-kill-disable: not supported on this host (%s has no memory.oom_control); use --memory alone", cg.describe())
		}
	}
	return nil
}

// FormatCPUs writes n billionths of a CPU as docker's --cpus value.
func FormatCPUs(n int64) string {
	return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64)
}

// parseCPUList parses a cpuset list ("0-2,4") into CPU numbers.
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || strings.HasPrefix(lo, "+") {
			return nil, fmt.Errorf("bad cpu %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || strings.HasPrefix(hi, "+") {
				return nil, fmt.Errorf("bad range %q", part)
			}
		}
		if b-a > 4096 {
			return nil, fmt.Errorf("range too long %q", part)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// rlimitNames are the --ulimit names and their runtime-spec types.
var rlimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
	"nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
	"rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
	"stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

// RlimitNames are the names --ulimit accepts, sorted.
func RlimitNames() []string {
	out := make([]string, 0, len(rlimitNames))
	for n := range rlimitNames {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LinuxResources is how r reaches runc: the cgroup limits of the spec (and
// of runc update). Devices are left to the caller.
func (r Resources) LinuxResources() *specs.LinuxResources {
	lr := &specs.LinuxResources{}
	if r.Memory > 0 || r.MemorySwap != 0 || r.MemoryReservation > 0 || r.OomKillDisable {
		m := &specs.LinuxMemory{}
		if r.Memory > 0 {
			m.Limit = ptr(r.Memory)
		}
		// Without swap accounting runc cannot write a swap limit at all,
		// -1 included: Normalize has recorded -1, as docker does.
		if r.MemorySwap != 0 && Cgroups().SwapLimit {
			m.Swap = ptr(r.MemorySwap)
		}
		if r.MemoryReservation > 0 {
			m.Reservation = ptr(r.MemoryReservation)
		}
		if r.OomKillDisable {
			m.DisableOOMKiller = ptr(true)
		}
		lr.Memory = m
	}
	if r.NanoCPUs > 0 || r.CPUShares > 0 || r.CpusetCpus != "" {
		c := &specs.LinuxCPU{Cpus: r.CpusetCpus}
		if r.NanoCPUs > 0 {
			c.Period = ptr(uint64(cpuPeriod))
			c.Quota = ptr(r.NanoCPUs * cpuPeriod / 1e9)
		}
		if r.CPUShares > 0 {
			c.Shares = ptr(uint64(r.CPUShares))
		}
		lr.CPU = c
	}
	if r.PidsLimit > 0 {
		lr.Pids = &specs.LinuxPids{Limit: ptr(r.PidsLimit)}
	}
	return lr
}

// applyResources puts r into s: the cgroup limits, the rlimits (a
// --ulimit nofile replaces the default) and /dev/shm's size.
func applyResources(s *specs.Spec, r Resources) {
	lr := r.LinuxResources()
	lr.Devices = s.Linux.Resources.Devices
	s.Linux.Resources = lr
	for _, u := range r.Ulimits {
		typ := rlimitNames[u.Name]
		rl := specs.POSIXRlimit{Type: typ, Hard: uint64(u.Hard), Soft: uint64(u.Soft)}
		replaced := false
		for i := range s.Process.Rlimits {
			if s.Process.Rlimits[i].Type == typ {
				s.Process.Rlimits[i], replaced = rl, true
			}
		}
		if !replaced {
			s.Process.Rlimits = append(s.Process.Rlimits, rl)
		}
	}
	shm := r.ShmSize
	if shm <= 0 {
		shm = DefaultShmSize
	}
	for i := range s.Mounts {
		if s.Mounts[i].Destination != "/dev/shm" {
			continue
		}
		opts := s.Mounts[i].Options[:0:0]
		for _, o := range s.Mounts[i].Options {
			if !strings.HasPrefix(o, "size=") {
				opts = append(opts, o)
			}
		}
		s.Mounts[i].Options = append(opts, "size="+strconv.FormatInt(shm/1024, 10)+"k")
	}
}

func ptr[T any](v T) *T { return &v }

// CgroupInfo is what this host's cgroups offer the resource flags.
type CgroupInfo struct {
	// V2 says the memory controller is on the unified (v2) hierarchy.
	V2 bool
	// SwapLimit says memory+swap can be limited (v1 memory.memsw.*, v2
	// memory.swap.max).
	SwapLimit bool
	// OomControl says the OOM killer can be disabled (v1 memory.oom_control).
	OomControl bool
}

func (c CgroupInfo) describe() string {
	if c.V2 {
		return "cgroup v2"
	}
	return "cgroup v1"
}

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Cgroups reports this host's cgroup layout: v1 (or hybrid, as Debian's
// default here) when a v1 memory hierarchy is mounted, else v2.
func Cgroups() CgroupInfo {
	var st unix.Statfs_t
	if unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return CgroupInfo{V2: true, SwapLimit: true}
	}
	if !exists(cgroupRoot + "/memory/memory.limit_in_bytes") {
		if exists(cgroupRoot + "/unified/cgroup.controllers") {
			return CgroupInfo{V2: true}
		}
	}
	return CgroupInfo{
		SwapLimit:  exists(cgroupRoot + "/memory/memory.memsw.limit_in_bytes"),
		OomControl: exists(cgroupRoot + "/memory/memory.oom_control"),
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// UpdateResources is r for runc update: a limit r leaves unset is sent as
// -1 (none), so that update can lift one, where the spec just leaves it
// out.
func (r Resources) UpdateResources() *specs.LinuxResources {
	lr := r.LinuxResources()
	if lr.Memory == nil {
		lr.Memory = &specs.LinuxMemory{}
	}
	unset := []**int64{&lr.Memory.Limit, &lr.Memory.Reservation}
	if Cgroups().SwapLimit {
		unset = append(unset, &lr.Memory.Swap)
	}
	for _, p := range unset {
		if *p == nil {
			*p = ptr(int64(-1))
		}
	}
	if lr.CPU == nil {
		lr.CPU = &specs.LinuxCPU{}
	}
	if lr.CPU.Quota == nil {
		lr.CPU.Quota = ptr(int64(-1))
	}
	if lr.Pids == nil {
		lr.Pids = &specs.LinuxPids{Limit: ptr(int64(-1))}
	}
	return lr
}
