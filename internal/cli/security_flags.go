package cli

import (
	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/engine"
)

// securityFlags are docker's hardening flags of run and create.
type securityFlags struct {
	privileged  bool
	capAdd      []string
	capDrop     []string
	devices     []string
	groupAdd    []string
	tmpfs       []string
	sysctls     []string
	securityOpt []string
}

func addSecurityFlags(fs *pflag.FlagSet, f *securityFlags) {
	fs.BoolVar(&f.privileged, "privileged", false, "give the container every capability and host device, without seccomp or masked paths")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "add a Linux capability (NET_ADMIN, CAP_SYS_TIME…, or ALL)")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop a Linux capability (or ALL)")
	fs.StringArrayVar(&f.devices, "device", nil, "add a host device: HOST[:CONTAINER[:PERMISSIONS]] (permissions of rwm)")
	fs.StringArrayVar(&f.groupAdd, "group-add", nil, "add a supplementary group (a name in the image's /etc/group, or a number)")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs: PATH[:OPTIONS] (as mount -o: size=64m,mode=1777,exec…)")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "set a namespaced sysctl: KEY=VALUE (net.*, fs.mqueue.*, kernel.shm*/msg*/sem)")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "security option: seccomp=unconfined|FILE, no-new-privileges[=true|false], label=disable, apparmor=unconfined, systempaths=unconfined")
}

// security turns the flags into the engine's security options; the
// engine checks the values (create refuses a bad one before making
// anything).
func (f *securityFlags) security() (engine.Security, error) {
	s := engine.Security{
		Privileged: f.privileged, CapAdd: f.capAdd, CapDrop: f.capDrop, Devices: f.devices,
		GroupAdd: f.groupAdd, Tmpfs: f.tmpfs, SecurityOpt: f.securityOpt,
	}
	for _, v := range f.sysctls {
		k, val, err := engine.ParseSysctl(v)
		if err != nil {
			return s, err
		}
		if s.Sysctls == nil {
			s.Sysctls = map[string]string{}
		}
		s.Sysctls[k] = val
	}
	return s, nil
}
