package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// simulateReboot leaves root as a host's reboot does: every monitor and
// container process killed (-9), every mount under the root gone (the
// containers' rootfs, the network namespaces' pins), runc's state gone,
// pasta gone.
func simulateReboot(t *testing.T, root string) {
	t.Helper()
	var pids []int
	ents, _ := os.ReadDir(filepath.Join(root, "containers"))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(root, "containers", e.Name(), "state.json"))
		if err != nil {
			continue
		}
		var st struct {
			MonitorPid int  `json:"monitorPid"`
			Pid        int  `json:"pid"`
			Running    bool `json:"running"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		// The monitor first, so that it restarts nothing.
		for _, pid := range []int{st.MonitorPid, st.Pid} {
			if pid > 0 && alive(pid) && (pid == st.MonitorPid || st.Running) {
				syscall.Kill(pid, syscall.SIGKILL)
				pids = append(pids, pid)
			}
		}
	}
	pastas, _ := filepath.Glob(filepath.Join(root, "network", "run", "*", "pasta.pid"))
	for _, f := range pastas {
		b, _ := os.ReadFile(f)
		var pid int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err == nil && pid > 0 && alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		waitGone(t, pid, "a process the reboot ends")
	}
	m := mountsUnder(root)
	for i := len(m) - 1; i >= 0; i-- {
		if err := syscall.Unmount(m[i], syscall.MNT_DETACH); err != nil {
			t.Fatalf("unmount %s: %v", m[i], err)
		}
	}
	states, _ := os.ReadDir(filepath.Join(root, "runc"))
	for _, e := range states {
		// runc --root ROOT/runc state: what strata's runc keeps; gone
		// with /run's tmpfs on a real host, so gone here too.
		if out, err := exec.Command("runc", "--root", filepath.Join(root, "runc"), "delete", "--force", e.Name()).CombinedOutput(); err != nil {
			t.Logf("runc delete %s: %v %s", e.Name(), err, out)
		}
		os.RemoveAll(filepath.Join(root, "runc", e.Name()))
	}
}

// After a reboot, system boot starts the always containers (also one the
// user stopped, as dockerd does) and the unless-stopped ones the user did
// not stop, with their published ports; the others are settled as exited;
// a second boot changes nothing.
func TestSystemBootAfterReboot(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "run", "-d", "--name", "al", "--restart", "always", "-p", "127.0.0.1::80", "bb", "httpd", "-f", "-p", "80", "-h", "/www")
	mustStrata(t, root, "run", "-d", "--name", "us", "--restart", "unless-stopped", "bb", "sleep", "1000")
	mustStrata(t, root, "run", "-d", "--name", "usstop", "--restart", "unless-stopped", "bb", "sleep", "1000")
	mustStrata(t, root, "run", "-d", "--name", "alstop", "--restart", "always", "bb", "sleep", "1000")
	mustStrata(t, root, "run", "-d", "--name", "plain", "bb", "sleep", "1000")
	mustStrata(t, root, "create", "--name", "made", "--restart", "always", "bb", "true")
	mustStrata(t, root, "stop", "-t", "0", "usstop", "alstop")
	for _, n := range []string{"al", "us", "plain"} {
		waitInspect(t, root, n, "{{.State.Status}}", "running")
	}

	simulateReboot(t, root)
	if got := sortedLines(mustStrata(t, root, "system", "boot")); got != "al alstop us" {
		t.Errorf("system boot started %q, want al alstop us", got)
	}
	want := map[string]string{
		"al": "running 0", "alstop": "running 0", "us": "running 0",
		"usstop": "exited 137", "plain": "exited 255", "made": "created 0",
	}
	pids := map[string]string{}
	for n, w := range want {
		waitInspect(t, root, n, "{{.State.Status}} {{.State.ExitCode}}", w)
		pids[n] = strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", n))
	}
	port := strings.TrimSpace(mustStrata(t, root, "port", "al", "80"))
	resp, err := http.Get("http://" + port + "/index.html")
	if err != nil {
		t.Fatalf("al's published port after boot: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from strata\n" {
		t.Errorf("al's page after boot = %q", body)
	}

	if got := mustStrata(t, root, "system", "boot"); got != "" {
		t.Errorf("second system boot started %q, want nothing", got)
	}
	for n := range want {
		if p := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", n)); p != pids[n] {
			t.Errorf("%s: pid %s after the second boot, was %s", n, p, pids[n])
		}
	}
}

func sortedLines(s string) string {
	f := strings.Fields(s)
	sort.Strings(f)
	return strings.Join(f, " ")
}
