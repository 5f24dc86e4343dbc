package runtime

import (
	"os"
	"strings"
)

// HostResolvConf is the host's /etc/resolv.conf as a container sees it:
// without its loopback nameservers (127.0.0.0/8, ::1), which mean nothing
// in another network namespace, unless keepLoopback (the host's network,
// where a local resolver such as systemd-resolved answers). A host
// without the file gives "".
func HostResolvConf(keepLoopback bool) string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return ""
	}
	if keepLoopback {
		return string(b)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		out = append(out, line)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}
