package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stats is one sample of a running container's usage, as strata stats
// shows it (docker's stats fields). The cgroup files are read directly:
// the handful this needs, on v1 and v2, are fewer lines than wiring
// containerd/cgroups (whose v1 loader pulls in systemd, D-Bus and eBPF
// packages) would take.
type Stats struct {
	Read time.Time
	// CPUUsage is the container's CPU time in ns; SystemUsage the host's
	// (all CPUs, from /proc/stat) at the same moment, for docker's CPU %.
	CPUUsage, SystemUsage uint64
	OnlineCPUs            int
	// MemUsage is the cgroup's usage less its inactive file cache, as
	// docker shows it; MemLimit its limit, at most the host's memory.
	MemUsage, MemLimit uint64
	// NetRx and NetTx are the bytes through the container's interfaces
	// other than lo (its network namespace's /proc/PID/net/dev).
	NetRx, NetTx uint64
	// BlkRead and BlkWrite are the bytes the cgroup read and wrote.
	BlkRead, BlkWrite uint64
	Pids              uint64
}

// ReadStats samples the cgroup at cgroupsPath (the spec's
// linux.cgroupsPath) and the network namespace of pid (0: none).
func ReadStats(cgroupsPath string, pid int) (Stats, error) {
	st := Stats{Read: time.Now().UTC(), OnlineCPUs: onlineCPUs()}
	var err error
	if st.SystemUsage, err = systemCPUUsage(); err != nil {
		return st, err
	}
	cg := Cgroups()
	v1 := func(ctrl, file string) string { return filepath.Join(cgroupRoot, ctrl, cgroupsPath, file) }
	v2 := func(file string) string { return filepath.Join(cgroupRoot, cgroupsPath, file) }
	var limit uint64
	if cg.V2 {
		kv, err := readKV(v2("cpu.stat"))
		if err != nil {
			return st, fmt.Errorf("stats: %w", err)
		}
		st.CPUUsage = kv["usage_usec"] * 1000
		st.MemUsage, _ = readUint(v2("memory.current"))
		mkv, _ := readKV(v2("memory.stat"))
		st.MemUsage = sub(st.MemUsage, mkv["inactive_file"])
		limit, _ = readUint(v2("memory.max")) // "max": 0
		st.Pids, _ = readUint(v2("pids.current"))
		st.BlkRead, st.BlkWrite = ioStatV2(v2("io.stat"))
	} else {
		if st.CPUUsage, err = readUint(v1("cpuacct", "cpuacct.usage")); err != nil {
			return st, fmt.Errorf("stats: %w", err)
		}
		st.MemUsage, _ = readUint(v1("memory", "memory.usage_in_bytes"))
		mkv, _ := readKV(v1("memory", "memory.stat"))
		st.MemUsage = sub(st.MemUsage, mkv["total_inactive_file"])
		limit, _ = readUint(v1("memory", "memory.limit_in_bytes"))
		st.Pids, _ = readUint(v1("pids", "pids.current"))
		st.BlkRead, st.BlkWrite = blkioV1(v1("blkio", "blkio.throttle.io_service_bytes_recursive"))
	}
	st.MemLimit = hostMemory()
	if limit > 0 && (limit < st.MemLimit || st.MemLimit == 0) {
		st.MemLimit = limit
	}
	if pid > 0 {
		st.NetRx, st.NetTx = netDev(fmt.Sprintf("/proc/%d/net/dev", pid))
	}
	return st, nil
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKV reads "key value" lines (cpu.stat, memory.stat).
func readKV(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// blkioV1 sums the Read and Write lines ("8:0 Read 4096") of a v1
// io_service_bytes file.
func blkioV1(path string) (read, write uint64) {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}

// ioStatV2 sums rbytes and wbytes of io.stat ("8:0 rbytes=4096 wbytes=0 …").
func ioStatV2(path string) (read, write uint64) {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				read += n
			case "wbytes":
				write += n
			}
		}
	}
	return read, write
}

// netDev sums received and sent bytes of every interface but lo in a
// /proc/PID/net/dev.
func netDev(path string) (rx, tx uint64) {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			rx, tx = rx+r, tx+t
		}
	}
	return rx, tx
}

// clockTicks is USER_HZ, /proc/stat's unit: 100 on every Linux Go runs on.
const clockTicks = 100

// systemCPUUsage is the host's CPU time in ns: the sum of /proc/stat's
// first line, as docker computes it.
func systemCPUUsage() (uint64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "cpu" {
			continue
		}
		var total uint64
		for _, v := range fields[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse /proc/stat: %w", err)
			}
			total += n
		}
		return total * (1e9 / clockTicks), nil
	}
	return 0, fmt.Errorf("parse /proc/stat: no cpu line")
}

func onlineCPUs() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 1
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) > 3 && bytes.HasPrefix(line, []byte("cpu")) && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	if n == 0 {
		n = 1
	}
	return n
}

// hostMemory is MemTotal in bytes.
func hostMemory() uint64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}
