package network

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pastaArgs are the flags every pasta gets: IPv4 only, no port forwarded
// either way (-t/-u: host to namespace, published ports go through the
// monitor's proxy instead; -T/-U: the namespace's loopback to the host's,
// which would let containers reach host-loopback services), the gateway
// mapped to the host's loopback (kept from containers by the network's
// nft rules unless asked for), the interface configured from the host's.
var pastaArgs = []string{
	"--runas", "0:0", "--config-net", "-4", "--quiet",
	"-t", "none", "-u", "none", "-T", "none", "-U", "none",
}

// startPasta starts pasta on the namespace at ns, with gw as the gateway
// it gives it (and maps to the host's loopback); it daemonizes once the
// namespace's interface is configured, writing its pid to dir/pasta.pid,
// and quits by itself when the namespace's file is removed.
func startPasta(ns, dir string, gw netip.Addr) error {
	pidFile := filepath.Join(dir, "pasta.pid")
	args := append(append([]string{}, pastaArgs...), "--gateway", gw.String(), "--pid", pidFile, "--netns", ns)
	cmd := exec.Command("pasta", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("pasta not found: install the passt package (apt-get install passt), or use --network none or host")
		}
		return fmt.Errorf("pasta: %v: %s", err, cleanPastaOutput(out.String()))
	}
	if !pastaAlive(dir) {
		return fmt.Errorf("pasta exited at once: %s", cleanPastaOutput(out.String()))
	}
	return nil
}

// cleanPastaOutput drops pasta's complaints about a missing syslog.
func cleanPastaOutput(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Failed to send") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

func pastaPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "pasta.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// pastaAlive reports whether the pasta recorded in dir runs (and is a
// pasta: the pid was not reused).
func pastaAlive(dir string) bool {
	pid := pastaPid(dir)
	if pid <= 0 {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.HasPrefix(string(comm), "pasta") || err == nil && strings.HasPrefix(string(comm), "passt")
}

// stopPasta asks the pasta recorded in dir to end, without waiting for
// it: it holds nothing that the next start of the network needs (that one
// gets a namespace and a pasta of its own), and waiting cost tens of ms of
// the exit of every network's last container.
func stopPasta(dir string) {
	if !pastaAlive(dir) {
		return
	}
	pid := pastaPid(dir)
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGTERM)
		return
	}
	_ = unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
	_ = unix.Close(fd)
}
