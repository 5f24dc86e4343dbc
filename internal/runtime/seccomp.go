package runtime

import (
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// blockedSyscalls are what docker's default seccomp profile keeps from a
// container without extra capabilities (its documented list of
// "significant syscalls blocked", plus the new mount API): loading kernel
// modules and rebooting, the clock, swap, keyrings, BPF and perf, other
// processes' memory, mounting and namespaces. Docker writes its profile
// as an allow list; a deny list of the same calls costs runc less to
// build and leaves calls newer than the list to the capabilities, which
// already refuse most of these.
var blockedSyscalls = []string{
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
	"kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
	"open_tree", "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev",
	"query_module", "quotactl", "reboot", "request_key", "set_mempolicy", "setns",
	"settimeofday", "stime", "swapoff", "swapon", "sysfs", "_sysctl", "syslog",
	"umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
}

// namespaceFlags are clone's flags for new namespaces, which docker's
// profile refuses without CAP_SYS_ADMIN.
var namespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
	unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET,
}

// DefaultSeccomp is the default seccomp profile: every call allowed but
// blockedSyscalls and clone with a namespace flag, which fail with EPERM,
// and clone3, whose flags a filter cannot read, which fails with ENOSYS
// so that libcs fall back to clone (as docker's profile does).
func DefaultSeccomp() *specs.LinuxSeccomp {
	eperm, enosys := uint(unix.EPERM), uint(unix.ENOSYS)
	calls := []specs.LinuxSyscall{{Names: blockedSyscalls, Action: specs.ActErrno, ErrnoRet: &eperm}}
	for _, f := range namespaceFlags {
		calls = append(calls, specs.LinuxSyscall{
			Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: f, ValueTwo: f, Op: specs.OpMaskedEqual}},
		})
	}
	calls = append(calls, specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: seccompArches(),
		Syscalls:      calls,
	}
}

// seccompArches are the architectures a process on this machine can call
// the kernel as; a filter that leaves one out lets it through unfiltered.
func seccompArches() []specs.Arch {
	switch goruntime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	case "386":
		return []specs.Arch{specs.ArchX86}
	}
	return nil
}
