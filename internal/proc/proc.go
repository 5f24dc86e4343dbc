// Package proc answers whether a process lives, from kill(2) and /proc, for
// the parts of Strata that recognise the leftovers of dead processes
// (half-unpacked snapshots, overlay probes, a container's monitor) by the
// pid in their name or record. It is the one home of that question; it
// imports nothing of Strata.
package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Alive reports whether pid is a live process: it exists (kill(pid, 0)
// succeeds, or fails with EPERM: someone else's) and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	_, zombie, err := Start(pid)
	return err != nil || !zombie // no /proc entry to read: trust kill
}

// Start returns pid's start time (/proc/PID/stat's starttime, in clock
// ticks since boot), which tells a process from a later one given the same
// pid, and whether it is a zombie.
func Start(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	// The fields after comm, which ends at the last ")": state is field 3,
	// starttime field 22.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z", err
}
