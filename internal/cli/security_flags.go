package cli

import (
	"strings"

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
	list := func(p *[]string, name, typ, usage string) { fs.Var(&listValue{p, typ}, name, usage) }
	fs.BoolVar(&f.privileged, "privileged", false, "give the container every capability and host device, without seccomp or masked paths")
	list(&f.capAdd, "cap-add", "list", "add a Linux capability (NET_ADMIN, CAP_SYS_TIME…, or ALL)")
	list(&f.capDrop, "cap-drop", "list", "drop a Linux capability (or ALL)")
	list(&f.devices, "device", "list", "add a host device: HOST[:CONTAINER[:PERMISSIONS]] (permissions of rwm)")
	list(&f.groupAdd, "group-add", "list", "add a supplementary group (a name in the image's /etc/group, or a number)")
	list(&f.tmpfs, "tmpfs", "list", "mount a tmpfs: PATH[:OPTIONS] (as mount -o: size=64m,mode=1777,exec…)")
	list(&f.sysctls, "sysctl", "map", "set a namespaced sysctl: KEY=VALUE (net.*, fs.mqueue.*, kernel.shm*/msg*/sem)")
	list(&f.securityOpt, "security-opt", "list", "security option: seccomp=unconfined|FILE, no-new-privileges[=true|false], label=disable, apparmor=unconfined, systempaths=unconfined")
}

// listValue is a repeatable flag, one value per use (no comma splitting,
// as docker's), with docker's type name in help.
type listValue struct {
	p   *[]string
	typ string
}

func (l *listValue) Set(v string) error { *l.p = append(*l.p, v); return nil }
func (l *listValue) String() string     { return strings.Join(*l.p, ",") }
func (l *listValue) Type() string       { return l.typ }

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
