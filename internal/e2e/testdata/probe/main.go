// Command probe reports what a container lets it do, for the security
// tests, which install it setuid root in an image:
//
//	probe euid       its real and effective user IDs (run as another
//	                 user: whether the setuid bit took effect)
//	probe syscalls   the result of calls that docker's seccomp profile
//	                 gates by argument, or that it does not know, as
//	                 name=ok or name=ERRNO
package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe euid|syscalls")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "euid":
		fmt.Printf("uid=%d euid=%d\n", os.Getuid(), os.Geteuid())
	case "syscalls":
		for _, c := range []struct {
			name string
			nr   uintptr
			args [3]uintptr
		}{
			{"personality-query", unix.SYS_PERSONALITY, [3]uintptr{0xffffffff}},
			{"personality-linux32", unix.SYS_PERSONALITY, [3]uintptr{0x0008}},         // PER_LINUX32
			{"personality-no-randomize", unix.SYS_PERSONALITY, [3]uintptr{0x0040000}}, // ADDR_NO_RANDOMIZE,
			{"unknown-999", 999, [3]uintptr{}},
			{"clone3", unix.SYS_CLONE3, [3]uintptr{}},
			{"kexec_load", unix.SYS_KEXEC_LOAD, [3]uintptr{}},
			{"add_key", unix.SYS_ADD_KEY, [3]uintptr{}},
			{"keyctl", unix.SYS_KEYCTL, [3]uintptr{}},
			{"bpf", unix.SYS_BPF, [3]uintptr{^uintptr(0)}},
			{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, [3]uintptr{}},
			{"userfaultfd", unix.SYS_USERFAULTFD, [3]uintptr{^uintptr(0)}},
			{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, [3]uintptr{^uintptr(0)}},
			{"setns", unix.SYS_SETNS, [3]uintptr{^uintptr(0)}},
		} {
			_, _, errno := syscall.RawSyscall(c.nr, c.args[0], c.args[1], c.args[2])
			res := "ok"
			if errno != 0 {
				res = unix.ErrnoName(errno)
			}
			fmt.Printf("%s=%s\n", c.name, res)
		}
	}
}
