package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// netRoot is containerRoot for the network tests: it also needs pasta and
// nft (scripts/setup.sh installs passt and nftables), and checks at the
// end that nothing of a network is left: no sandbox, no network
// namespace, no pasta of this root.
func netRoot(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"pasta", "nft", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (scripts/setup.sh installs passt and nftables)", bin)
		}
	}
	root := containerRoot(t)
	t.Cleanup(func() {
		if ids := strings.Fields(strata(t, root, "ps", "-aq").stdout); len(ids) > 0 {
			strata(t, root, append([]string{"rm", "-f"}, ids...)...)
		}
		checkNetworkGone(t, root)
	})
	return root
}

// checkNetworkGone checks that no sandbox, network namespace (as a mount
// under the root) or pasta of root is left.
func checkNetworkGone(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"sandboxes", "run"} {
		if ents, _ := os.ReadDir(filepath.Join(root, "network", d)); len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("network/%s left: %v", d, names)
		}
	}
	if m := mountsUnder(root); len(m) > 0 {
		t.Errorf("mounts (network namespaces) left under the root: %v", m)
	}
	// A network's pasta is told to end, not waited for: give it time.
	var left []string
	testutil.Poll(testutil.Patience, func() bool {
		left = nil
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			if strings.HasPrefix(string(b), "pasta") && strings.Contains(string(b), root) {
				left = append(left, strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
		return len(left) == 0
	})
	for _, p := range left {
		t.Errorf("pasta of this root left: %s", p)
	}
}

// debianImage imports the shared debootstrap rootfs into root as "deb".
func debianImage(t *testing.T, root string) {
	t.Helper()
	mustStrata(t, root, "import", "-c", `CMD ["bash"]`, testutil.DebianRootfs(t), "deb")
}

// mirrorAddr is the Debian mirror's host and an IPv4 address of it, as the
// host resolves it.
func mirrorAddr(t *testing.T) (host, ip string) {
	t.Helper()
	host = testutil.DebianMirrorHost()
	if host == "" {
		t.Skip("no http Debian mirror in the apt sources")
	}
	addrs, err := net.LookupIP(host)
	if err != nil {
		t.Skipf("resolve %s: %v", host, err)
	}
	for _, a := range addrs {
		if a.To4() != nil {
			return host, a.String()
		}
	}
	t.Skipf("%s has no IPv4 address", host)
	return
}

// hostAddrs is every address of the host's own namespace.
func hostAddrs(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		fmt.Fprintf(&b, "%s %v\n", i.Name, addrs)
	}
	return b.String()
}

// With the defaults a busybox container fetches the mirror's Release file
// (busybox's static wget cannot resolve names here: it is given the
// address and the Host header), while the host's own addresses stay as
// they were and a service on the host's loopback stays out of reach until
// the container asks for host-gateway.
func TestNetworkDefaultOutbound(t *testing.T) {
	root := netRoot(t)
	host, ip := mirrorAddr(t)
	before := hostAddrs(t)
	out := mustStrata(t, root, "run", "--rm", "bb", "wget", "-q", "-O", "-", "--header", "Host: "+host,
		"http://"+ip+"/debian/dists/bookworm/Release")
	if !strings.Contains(out, "Codename: bookworm") {
		t.Fatalf("Release from the default network:\n%.400s", out)
	}
	if after := hostAddrs(t); after != before {
		t.Errorf("the host's addresses changed:\n%s\nto\n%s", before, after)
	}
	out = mustStrata(t, root, "run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.org", "--add-host", "db:10.1.2.3",
		"--hostname", "box", "bb", "cat", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname")
	for _, want := range []string{"nameserver 192.0.2.53\n", "search example.org\n", "10.1.2.3\tdb\n", "127.0.0.1\tlocalhost\n", "\tbox\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("files lack %q:\n%s", want, out)
		}
	}

	// A service on the host's loopback.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host-loopback") }))
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	// Opted in: host.docker.internal reaches it.
	out = mustStrata(t, root, "run", "--rm", "--add-host", "host.docker.internal:host-gateway", "bb", "sh", "-c",
		`wget -q -O - http://$(awk '/host.docker.internal/{print $1}' /etc/hosts):`+port+`/`)
	if out != "host-loopback" {
		t.Fatalf("host-gateway: %q", out)
	}
	// Not opted in: the same address (the default route's gateway) leads
	// nowhere, nor does the container's own loopback.
	r := strata(t, root, "run", "--rm", "bb", "sh", "-c",
		`gw=$(ip route | awk '/default/{print $3}'); nc -w 3 $gw `+port+` </dev/null && echo reached-gw; nc -w 3 127.0.0.1 `+port+` </dev/null && echo reached-lo; true`)
	if strings.Contains(r.stdout, "reached") {
		t.Fatalf("a container reached the host's loopback without asking: %q %s", r.stdout, r.stderr)
	}
}

// A build's RUN has the default network: apt-get update and install work
// on the debootstrap base and the layer holds curl; a later RUN goes out
// too. With --network none a RUN failing on the network says which
// network it had.
func TestNetworkBuildAptGet(t *testing.T) {
	root := netRoot(t)
	debianImage(t, root)
	ctx := t.TempDir()
	// The second RUN finds the network its first one brought up (the
	// build holds it between RUNs) and still goes out through it.
	df := "FROM deb\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n" +
		"RUN curl -sSfo /dev/null http://" + testutil.DebianMirrorHost() + "/debian/dists/bookworm/Release\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "build", "-q", "-t", "withcurl", ctx)
	if out := mustStrata(t, root, "run", "--rm", "--network", "none", "withcurl", "curl", "--version"); !strings.HasPrefix(out, "curl ") {
		t.Fatalf("curl --version: %q", out)
	}
	df = "FROM deb\nRUN apt-get update --error-on=any\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	r := strata(t, root, "build", "-q", "--network", "none", "--no-cache", ctx)
	if r.code == 0 || !strings.Contains(r.stderr, "network none") {
		t.Fatalf("build --network none of apt-get update: exit %d, want a message naming network none:\n%s", r.code, r.stderr)
	}
}

// bashGet is a bash command line fetching path from host:port with
// bash's /dev/tcp (name resolution through the C library).
func bashGet(host, port, path string) string {
	return fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s && printf 'GET %s HTTP/1.0\r\n\r\n' >&3 && cat <&3`, host, port, path)
}

// Two containers on a user network reach each other by name, alias and
// short ID; one on another network cannot; an --internal network has no
// outbound; -p publishes from a user network; rm of a network in use is
// refused naming the container; bad input leaves nothing behind.
func TestNetworkUserNetworks(t *testing.T) {
	root := netRoot(t)
	debianImage(t, root)
	mustStrata(t, root, "network", "create", "app")
	mustStrata(t, root, "network", "create", "--subnet", "10.89.0.0/24", "other")
	mustStrata(t, root, "network", "create", "--internal", "closed")
	hostPort := freePort(t)
	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--name", "web", "--network", "app", "--network-alias", "www",
		"-p", "127.0.0.1:"+strconv.Itoa(hostPort)+":80", "bb", "httpd", "-f", "-p", "80", "-h", "/www"))
	for _, name := range []string{"web", "www", id[:12]} {
		out := mustStrata(t, root, "run", "--rm", "--network", "app", "deb", "bash", "-c", bashGet(name, "80", "/index.html"))
		if !strings.Contains(out, "hello from strata") {
			t.Errorf("GET http://%s/ from the same network: %q", name, out)
		}
	}
	webIP := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.NetworkSettings.Networks.app.IPAddress}}", "web"))
	if !strings.HasPrefix(webIP, "172.") {
		t.Fatalf("web's address: %q", webIP)
	}
	r := strata(t, root, "run", "--rm", "--network", "other", "deb", "bash", "-c",
		"getent hosts web; timeout 3 bash -c '"+bashGet(webIP, "80", "/index.html")+"' && echo reached")
	if strings.Contains(r.stdout, "reached") || strings.Contains(r.stdout, "web") {
		t.Errorf("a container on another network reached web: %q", r.stdout)
	}
	_, mirrorIP := mirrorAddr(t)
	r = strata(t, root, "run", "--rm", "--network", "closed", "deb", "bash", "-c", "timeout 3 bash -c '</dev/tcp/"+mirrorIP+"/80' && echo reached")
	if strings.Contains(r.stdout, "reached") {
		t.Errorf("an --internal network reached the mirror: %q", r.stdout)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(hostPort) + "/index.html")
	if err != nil {
		t.Fatalf("-p on a user network: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello from strata") {
		t.Errorf("-p on a user network: %q", body)
	}
	if out := mustStrata(t, root, "port", "web"); out != "80/tcp -> 127.0.0.1:"+strconv.Itoa(hostPort)+"\n" {
		t.Errorf("port web: %q", out)
	}
	if r := strata(t, root, "network", "rm", "app"); r.code == 0 || !strings.Contains(r.stderr, "web") {
		t.Errorf("network rm of a network in use: exit %d, %s", r.code, r.stderr)
	}

	before := mustStrata(t, root, "ps", "-aq")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rm", "--network", "nosuch", "bb", "true"}, "nosuch"},
		{[]string{"create", "--name", "bad.name", "--network", "app", "bb", "true"}, "bad.name"},
		{[]string{"run", "--rm", "--network-alias", "x", "bb", "true"}, "user-defined"},
		{[]string{"create", "--add-host", "nocolon", "bb", "true"}, "nocolon"},
		{[]string{"create", "--dns", "not-an-ip", "bb", "true"}, "not-an-ip"},
		{[]string{"create", "--mac-address", "zz", "bb", "true"}, "zz"},
	} {
		r := strata(t, root, tc.args...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 125 and one line naming %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "app"}, "already exists"},
		{[]string{"network", "create", "--subnet", "10.89.0.128/25", "x"}, "overlaps"},
		{[]string{"network", "create", "--subnet", "10.89.0.1/24", "x"}, "host bits"},
	} {
		if r := strata(t, root, tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if after := mustStrata(t, root, "ps", "-aq"); after != before {
		t.Errorf("bad input left containers: %q, was %q", after, before)
	}
	if ls := mustStrata(t, root, "network", "ls", "--format", "{{.Name}}"); ls != "bridge\nhost\nnone\napp\nclosed\nother\n" {
		t.Errorf("network ls: %q", ls)
	}
	mustStrata(t, root, "rm", "-f", "web")
	mustStrata(t, root, "network", "rm", "app", "other")
	if out := mustStrata(t, root, "network", "prune", "-f"); !strings.Contains(out, "closed") {
		t.Errorf("network prune: %q", out)
	}
}

// A kill -9 of the monitor of a container on a user network, and of an
// attached run's CLI, leaves nothing behind once the containers are
// removed: no sandbox, namespace or pasta (netRoot's clean-up checks).
func TestNetworkKill9LeavesNothing(t *testing.T) {
	root := netRoot(t)
	mustStrata(t, root, "network", "create", "app")
	mustStrata(t, root, "run", "-d", "--name", "d", "--network", "app", "bb", "sleep", "60")
	pid := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.State.Pid}}", "d"))
	st, err := os.ReadFile(filepath.Join(root, "containers", strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.Id}}", "d")), "state.json"))
	if err != nil || pid == "0" {
		t.Fatalf("state of d: %v %s", err, st)
	}
	var monitor int
	if i := strings.Index(string(st), `"monitorPid":`); i >= 0 {
		fmt.Sscanf(string(st)[i+len(`"monitorPid":`):], "%d", &monitor)
	}
	if monitor > 0 {
		syscall.Kill(monitor, syscall.SIGKILL)
	}
	cmd := startStrata(t, root, "ready", "run", "--name", "a", "--network", "app", "bb", "sh", "-c", "echo ready; exec sleep 60")
	killRun(t, cmd)
	mustStrata(t, root, "rm", "-f", "d", "a")
	mustStrata(t, root, "network", "rm", "app")
}

// network connect gives a running container another network: it resolves
// that network's containers by name and alias and reaches them, they list
// it in their /etc/hosts; network disconnect takes all of that away again,
// on both sides, while the container keeps running on its first network.
func TestNetworkConnectDisconnect(t *testing.T) {
	root := netRoot(t)
	debianImage(t, root)
	mustStrata(t, root, "network", "create", "front")
	mustStrata(t, root, "network", "create", "back")
	mustStrata(t, root, "run", "-d", "--name", "web", "--network", "back", "bb", "httpd", "-f", "-p", "80", "-h", "/www")
	mustStrata(t, root, "run", "-d", "--name", "cli", "--network", "front", "deb", "sleep", "600")
	resolves := func(who, name string) string {
		return strings.TrimSpace(strata(t, root, "exec", who, "getent", "hosts", name).stdout)
	}
	if got := resolves("cli", "web"); got != "" {
		t.Fatalf("cli resolves web before it joins web's network: %q", got)
	}
	mustStrata(t, root, "network", "connect", "--alias", "client", "back", "cli")
	webIP := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.NetworkSettings.Networks.back.IPAddress}}", "web"))
	if got := resolves("cli", "web"); !strings.HasPrefix(got, webIP+" ") {
		t.Errorf("cli after connect: getent hosts web = %q, want %s", got, webIP)
	}
	if out := mustStrata(t, root, "exec", "cli", "bash", "-c", bashGet("web", "80", "/index.html")); !strings.Contains(out, "hello from strata") {
		t.Errorf("cli → web after connect: %q", out)
	}
	hosts := mustStrata(t, root, "exec", "web", "cat", "/etc/hosts")
	if !strings.Contains(hosts, "\tcli client ") {
		t.Errorf("web's /etc/hosts lacks cli and its alias after connect:\n%s", hosts)
	}
	if nets := mustStrata(t, root, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "cli"); nets != "back front \n" {
		t.Errorf("cli's networks after connect: %q", nets)
	}

	mustStrata(t, root, "network", "disconnect", "back", "cli")
	if got := resolves("cli", "web"); got != "" {
		t.Errorf("cli still resolves web after disconnect: %q", got)
	}
	if r := strata(t, root, "exec", "cli", "timeout", "3", "bash", "-c", bashGet(webIP, "80", "/index.html")); strings.Contains(r.stdout, "hello") {
		t.Errorf("cli reached web by address after disconnect: %q", r.stdout)
	}
	if hosts := mustStrata(t, root, "exec", "web", "cat", "/etc/hosts"); strings.Contains(hosts, "cli") {
		t.Errorf("web's /etc/hosts still lists cli after disconnect:\n%s", hosts)
	}
	if nets := mustStrata(t, root, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "cli"); nets != "front \n" {
		t.Errorf("cli's networks after disconnect: %q", nets)
	}
	if r := strata(t, root, "network", "disconnect", "back", "cli"); r.code == 0 || !strings.Contains(r.stderr, "back") {
		t.Errorf("disconnect of a network cli is not on: exit %d, %q", r.code, r.stderr)
	}
	mustStrata(t, root, "rm", "-f", "web", "cli")
	mustStrata(t, root, "network", "rm", "front", "back")
}

// -P publishes every port the image EXPOSEs on a free host port of its
// own; strata port lists them, and the page is fetched through one from
// the host's loopback.
func TestNetworkPublishAll(t *testing.T) {
	root := netRoot(t)
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM bb\nEXPOSE 80 81/tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "build", "-q", "-t", "exposer", ctx)
	mustStrata(t, root, "run", "-d", "--name", "pub", "-P", "exposer", "httpd", "-f", "-p", "80", "-h", "/www")
	ports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(mustStrata(t, root, "port", "pub")), "\n") {
		cport, hostAddr, ok := strings.Cut(line, " -> ")
		if !ok {
			t.Fatalf("port pub line %q", line)
		}
		ports[cport] = hostAddr
	}
	if len(ports) != 2 || ports["80/tcp"] == "" || ports["81/tcp"] == "" || ports["80/tcp"] == ports["81/tcp"] {
		t.Fatalf("port pub: %v, want 80/tcp and 81/tcp on two host ports", ports)
	}
	if one := strings.TrimSpace(mustStrata(t, root, "port", "pub", "80")); one != ports["80/tcp"] {
		t.Errorf("port pub 80: %q, want %q", one, ports["80/tcp"])
	}
	_, hostPort, _ := net.SplitHostPort(ports["80/tcp"])
	if body := getWhenUp(t, "http://127.0.0.1:"+hostPort+"/index.html"); body != "hello from strata\n" {
		t.Errorf("GET through -P's port: %q", body)
	}
}
