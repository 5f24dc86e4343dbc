package runtime

import (
	"strconv"
	"strings"
	"testing"

	units "github.com/docker/go-units"
	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The flags reach the spec in runc's units: --cpus as a CFS quota over a
// 100 ms period, the memory values in bytes, --ulimit nofile replacing the
// default, --shm-size as /dev/shm's size option.
func TestSpecResources(t *testing.T) {
	r := Resources{
		Memory: 64 << 20, MemoryReservation: 32 << 20, NanoCPUs: 5e8, CPUShares: 512,
		CpusetCpus: "0", PidsLimit: 64, ShmSize: 128 << 20,
		Ulimits: []*units.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}, {Name: "core", Soft: 0, Hard: 0}},
	}
	r.Normalize()
	s, err := Spec(SpecOptions{Rootfs: t.TempDir(), Hostname: "h", Args: []string{"true"}, Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	want := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20)), Reservation: ptr(int64(32 << 20))},
		CPU:     &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(64))},
	}
	if !Cgroups().SwapLimit {
		want.Memory.Swap = nil // runc cannot write one
	}
	if diff := cmp.Diff(want, s.Linux.Resources); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	wantRl := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 200, Soft: 100}, {Type: "RLIMIT_CORE"}}
	if diff := cmp.Diff(wantRl, s.Process.Rlimits); diff != "" {
		t.Errorf("rlimits (-want +got):\n%s", diff)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" && !strings.Contains(strings.Join(m.Options, ","), "size=131072k") {
			t.Errorf("/dev/shm options %v, want size=131072k", m.Options)
		}
	}
	// Unset, nothing is capped and /dev/shm keeps docker's 64 MiB.
	s, err = Spec(SpecOptions{Rootfs: t.TempDir(), Hostname: "h", Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Linux.Resources; l.Memory != nil || l.CPU != nil || l.Pids != nil {
		t.Errorf("uncapped container got limits: %+v", l)
	}
}

// FuzzCPUList: a list parseCPUList accepts is CPU numbers in the ranges
// written, and writing them back parses to the same.
func FuzzCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3", "0,2-3", "1-0", "", "-1", "a", "0-4097", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := parseCPUList(s)
		if err != nil {
			return
		}
		if len(cpus) == 0 {
			t.Fatalf("%q: accepted with no CPUs", s)
		}
		var parts []string
		for _, c := range cpus {
			if c < 0 {
				t.Fatalf("%q: negative CPU %d", s, c)
			}
			parts = append(parts, strconv.Itoa(c))
		}
		again, err := parseCPUList(strings.Join(parts, ","))
		if err != nil || !cmp.Equal(again, cpus) {
			t.Fatalf("%q: %v does not round-trip: %v, %v", s, cpus, again, err)
		}
	})
}
