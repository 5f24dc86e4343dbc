package network

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/testutil"
)

// requiresNet skips unless root with pasta and nft installed.
func requiresNet(t *testing.T) {
	t.Helper()
	testutil.RequiresRoot(t)
	for _, bin := range []string{"pasta", "nft", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (scripts/setup.sh installs it)", bin)
		}
	}
}

func openManager(t *testing.T) *Manager {
	t.Helper()
	dir := t.TempDir()
	m, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, sb := range m.sandboxes() {
			_ = m.Detach(sb.ID)
		}
		_ = m.Sweep()
	})
	return m
}

// listenIn listens on TCP addr inside the namespace at ns and answers
// each connection with reply.
func listenIn(t *testing.T, ns, addr, reply string) {
	t.Helper()
	var l net.Listener
	if err := inNS(ns, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, reply)
			c.Close()
		}
	}()
}

// dialIn dials addr from inside ns and returns what the server says.
func dialIn(ns, addr string) (string, error) {
	var out string
	err := inNS(ns, func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		out = string(b)
		return err
	})
	return out, err
}

func TestUserNetworkReachAndIsolation(t *testing.T) {
	requiresNet(t)
	m := openManager(t)
	a, err := m.Create(CreateOptions{Name: "neta", Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Create(CreateOptions{Name: "netb", Subnet: "10.99.0.0/24", Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	att := func(id, name, net string) *Sandbox {
		hosts := filepath.Join(dir, id+".hosts")
		sb, err := m.Attach(AttachOptions{ID: id, Name: name, Hostname: id[:12], Networks: []Request{{Network: net, Aliases: []string{name + "-alias"}}},
			Files: Files{HostsPath: hosts, ResolvConfPath: filepath.Join(dir, id+".resolv")}})
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	web := att("aaaaaaaaaaaaaaaa01", "web", a.Name)
	cli := att("bbbbbbbbbbbbbbbb02", "cli", a.Name)
	other := att("cccccccccccccccc03", "other", b.Name)
	listenIn(t, web.Netns, web.Endpoints[0].IP+":80", "hello")
	if got, err := dialIn(cli.Netns, web.Endpoints[0].IP+":80"); err != nil || got != "hello" {
		t.Fatalf("cli → web: %q, %v", got, err)
	}
	if _, err := dialIn(other.Netns, web.Endpoints[0].IP+":80"); err == nil {
		t.Fatalf("a container on another network reached web")
	}
	hosts, _ := os.ReadFile(cli.Files.HostsPath)
	want := web.Endpoints[0].IP + "\tweb web-alias aaaaaaaaaaaa"
	if !strings.Contains(string(hosts), want) {
		t.Fatalf("cli's hosts lacks %q:\n%s", want, hosts)
	}
	if err := m.Detach(web.ID); err != nil {
		t.Fatal(err)
	}
	hosts, _ = os.ReadFile(cli.Files.HostsPath)
	if strings.Contains(string(hosts), "web") {
		t.Fatalf("cli's hosts still names web after it left:\n%s", hosts)
	}
	if _, err := m.Remove("neta"); err == nil || !strings.Contains(err.Error(), "cli") {
		t.Fatalf("rm of a network in use: %v, want a refusal naming cli", err)
	}
}

func TestDefaultNetworkOutbound(t *testing.T) {
	requiresNet(t)
	m := openManager(t)
	dir := t.TempDir()
	sb, err := m.Attach(AttachOptions{ID: "dddddddddddddddd04", Files: Files{HostsPath: filepath.Join(dir, "hosts"), ResolvConfPath: filepath.Join(dir, "resolv")}})
	if err != nil {
		t.Fatal(err)
	}
	mirror := testutil.DebianMirrorHost()
	if mirror == "" {
		t.Skip("no http Debian mirror in the apt sources")
	}
	err = inNS(sb.Netns, func() error {
		c, err := net.DialTimeout("tcp", mirror+":80", 10*time.Second)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(c, "HEAD /debian/dists/bookworm/Release HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", mirror)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.Contains(line, "200") {
			return fmt.Errorf("status %q", line)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("outbound from the default network: %v", err)
	}
}

// 100 containers joining and leaving one network leak nothing: no veth in
// the network's namespace, no sandbox record or namespace, addresses
// reused; the network is torn down once the last has left.
func TestHundredSandboxesLeakNothing(t *testing.T) {
	requiresNet(t)
	m := openManager(t)
	n, err := m.Create(CreateOptions{Name: "many", Subnet: "10.98.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := m.Attach(AttachOptions{ID: "keep000000000000", Name: "keep", Networks: []Request{{Network: "many"}}})
	if err != nil {
		t.Fatal(err)
	}
	links := func() int {
		h, err := handleAt(m.netNS(n.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		l, err := h.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	before := links()
	seen := map[string]bool{}
	for i := range 100 {
		id := fmt.Sprintf("c%015d", i)
		sb, err := m.Attach(AttachOptions{ID: id, Name: fmt.Sprintf("c%d", i), Networks: []Request{{Network: "many"}}})
		if err != nil {
			t.Fatal(err)
		}
		seen[sb.Endpoints[0].IP] = true
		if err := m.Detach(id); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 1 {
		t.Errorf("addresses handed out: %v, want one reused", seen)
	}
	// A released sandbox's veth goes with its namespace, which the kernel
	// destroys in the background: wait for it (the links must all go).
	testutil.Poll(testutil.Patience, func() bool { return links() == before })
	if after := links(); after != before {
		t.Errorf("links in the network's namespace: %d, was %d", after, before)
	}
	if sbs := m.sandboxes(); len(sbs) != 1 {
		t.Errorf("%d sandboxes, want only keep", len(sbs))
	}
	if err := m.Detach(keep.ID); err != nil {
		t.Fatal(err)
	}
	if nsPinned(m.netNS(n.ID)) || pastaAlive(m.runDir(n.ID)) {
		t.Errorf("the network is still up with no container on it")
	}
	ents, _ := os.ReadDir(filepath.Join(m.root, "sandboxes"))
	if len(ents) != 0 {
		t.Errorf("sandbox files left: %d", len(ents))
	}
}

// A container started again at once gets its veth name back although the
// kernel may still be destroying its last namespace (which holds the old
// veth under that name).
func TestReattachAtOnce(t *testing.T) {
	requiresNet(t)
	m := openManager(t)
	if _, err := m.Create(CreateOptions{Name: "again", Subnet: "10.97.0.0/24", Internal: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		sb, err := m.Attach(AttachOptions{ID: "eeeeeeeeeeeeeeee05", Name: "again", Networks: []Request{{Network: "again"}}})
		if err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
		if err := m.Detach(sb.ID); err != nil {
			t.Fatal(err)
		}
	}
}
