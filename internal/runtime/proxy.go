package runtime

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/errdefs"
)

// DefaultHostIP is where -p listens when no address is given. Docker
// listens on 0.0.0.0; Strata has no firewall rules to go with it, so it
// publishes on loopback unless told otherwise (-p 0.0.0.0:8080:80).
const DefaultHostIP = "127.0.0.1"

// PortMapping is one -p [IP:]HOSTPORT:PORT[/tcp|/udp]. HostPort 0 picks a free
// port (recorded in Status.Ports once listening).
type PortMapping struct {
	HostIP        string `json:"hostIP"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Proto         string `json:"proto"`
}

// String formats p as docker ps does: 127.0.0.1:8080->80/tcp.
func (p PortMapping) String() string {
	return net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)) + "->" + strconv.Itoa(p.ContainerPort) + "/" + p.Proto
}

// ParsePort parses -p [IP:][HOSTPORT:]PORT[/tcp|/udp].
func ParsePort(s string) (PortMapping, error) {
	bad := func(why string) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("publish %q: %s (want [IP:]HOSTPORT:PORT[/tcp|/udp]): %w", s, why, errdefs.ErrInvalidArgument)
	}
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return bad("the protocol is tcp or udp (sctp is not supported)")
	}
	p := PortMapping{HostIP: DefaultHostIP, Proto: proto}
	var host, hostPort, ctrPort string
	if i := strings.LastIndex(spec, ":"); i >= 0 {
		ctrPort = spec[i+1:]
		rest := spec[:i]
		if j := strings.LastIndex(rest, ":"); j >= 0 {
			host, hostPort = rest[:j], rest[j+1:]
		} else {
			hostPort = rest
		}
	} else {
		ctrPort = spec
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host != "" {
		if net.ParseIP(host) == nil {
			return bad("bad IP " + strconv.Quote(host))
		}
		p.HostIP = host
	}
	var err error
	if p.ContainerPort, err = strconv.Atoi(ctrPort); err != nil || p.ContainerPort < 1 || p.ContainerPort > 65535 {
		return bad("bad container port")
	}
	if hostPort != "" {
		if p.HostPort, err = strconv.Atoi(hostPort); err != nil || p.HostPort < 0 || p.HostPort > 65535 {
			return bad("bad host port")
		}
	}
	return p, nil
}

// proxy forwards connections accepted on a host listener (tcp) or
// datagrams received on a host socket (udp) to 127.0.0.1:PORT inside a
// network namespace.
type proxy struct {
	ln    net.Listener   // tcp
	pc    net.PacketConn // udp
	port  int
	netns *os.File // nil: dial in the host's namespace (--network host)
	wg    sync.WaitGroup
}

// close stops the proxy taking connections or datagrams.
func (p *proxy) close() {
	if p.ln != nil {
		p.ln.Close()
	}
	if p.pc != nil {
		p.pc.Close()
	}
}

// listenPorts binds every mapping, so a taken port fails before the
// container starts; it fills in ports picked by the kernel.
func listenPorts(ports []PortMapping) ([]*proxy, []PortMapping, error) {
	var out []*proxy
	var bound []PortMapping
	for _, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		px := &proxy{port: p.ContainerPort}
		var err error
		if p.Proto == "udp" {
			if px.pc, err = net.ListenPacket("udp", addr); err == nil {
				p.HostPort = px.pc.LocalAddr().(*net.UDPAddr).Port
			}
		} else if px.ln, err = net.Listen("tcp", addr); err == nil {
			p.HostPort = px.ln.Addr().(*net.TCPAddr).Port
		}
		if err != nil {
			for _, q := range out {
				q.close()
			}
			return nil, nil, fmt.Errorf("publish %s: %w (is the host port already taken?)", p, err)
		}
		bound = append(bound, p)
		out = append(out, px)
	}
	return out, bound, nil
}

// serve accepts until the listener is closed. Each connection is handled
// by its own goroutine, which ends when both directions have ended.
func (p *proxy) serve() {
	if p.pc != nil {
		p.serveUDP()
		return
	}
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed by stop
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *proxy) handle(c net.Conn) {
	defer c.Close()
	up, err := dialIn(p.netns, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
	if err != nil {
		return // the client sees its connection closed, as with docker-proxy
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// dialIn dials addr from inside the network namespace netns.
//
// The socket is created by a goroutine locked to its OS thread after that
// thread has entered netns with setns(2); a socket belongs to the
// namespace it was created in, so once the dial is done the thread goes
// back to the host namespace and the connection is used from any thread.
// If the thread cannot go back it is never unlocked, and the runtime ends
// it with the goroutine rather than reuse it.
func dialIn(netns *os.File, network, addr string) (net.Conn, error) {
	if netns == nil {
		return net.DialTimeout(network, addr, 5*time.Second)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(netns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("enter network namespace: %w", err)}
			return
		}
		c, err := net.DialTimeout(network, addr, 5*time.Second)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// udpIdle is how long a UDP flow (a client address) keeps its socket into
// the container without traffic either way, as docker-proxy's.
const udpIdle = 90 * time.Second

// serveUDP forwards datagrams until the host socket is closed. Each client
// address gets a socket of its own dialled into the container, so replies
// find their way back; a goroutine per flow copies the replies and ends
// when the flow has been idle for udpIdle or the proxy closes.
func (p *proxy) serveUDP() {
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	defer func() {
		mu.Lock()
		for _, c := range flows {
			c.Close()
		}
		mu.Unlock()
	}()
	buf := make([]byte, 65535)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		key := from.String()
		mu.Lock()
		up := flows[key]
		mu.Unlock()
		if up == nil {
			if up, err = dialIn(p.netns, "udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))); err != nil {
				continue // dropped, as a datagram may be
			}
			mu.Lock()
			flows[key] = up
			mu.Unlock()
			go func(up net.Conn, to net.Addr) {
				defer func() {
					mu.Lock()
					if flows[key] == up {
						delete(flows, key)
					}
					mu.Unlock()
					up.Close()
				}()
				rb := make([]byte, 65535)
				for {
					_ = up.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := up.Read(rb)
					if errors.Is(err, unix.ECONNREFUSED) {
						continue // nothing listens (yet): an ICMP error, not the end of the flow
					}
					if err != nil {
						return
					}
					if _, err := p.pc.WriteTo(rb[:n], to); err != nil {
						return
					}
				}
			}(up, from)
		}
		_ = up.SetReadDeadline(time.Now().Add(udpIdle))
		_, _ = up.Write(buf[:n])
	}
}
