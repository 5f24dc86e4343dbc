// Package host reads the facts about the machine Strata runs on that
// docker's info and version report: the kernel's release, the operating
// system's name and the memory. It is its own package because they are
// facts of the host, not of a store, and imports nothing of Strata. (The
// cgroup layout is runtime's: runtime.Cgroups.)
package host

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel is the running kernel's release (uname -r).
func Kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// OSName reads PRETTY_NAME from os-release, as dockerd's info does.
func OSName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// MemTotal is the machine's memory in bytes, 0 if unknown.
func MemTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
