// Package network gives containers and build steps their networks, as
// docker users expect them, without touching the host's own network
// namespace: the default network ("bridge") with outbound TCP/UDP and
// DNS, and user-defined networks on which containers reach each other by
// name, alias and short ID.
//
// Every network lives in a network namespace Strata makes for it (as
// rootless Podman's): a bridge holding the network's gateway address,
// one veth per container, nftables masquerading the subnet, and (unless
// --internal) a pasta process (package passt) attached to that namespace
// for outbound. A container gets a namespace of its own, pinned by a
// bind mount so runc joins it by path, with the other end of its veth as
// eth0. Nothing is added to the host's namespace: no bridge, no address,
// no route, no firewall rule. Networks cannot reach one another: each is
// a namespace with no route to the others.
//
// Why pasta rather than slirp4netns (both Debian 12 packages): pasta
// copies the host's address and routes into the namespace and moves
// TCP data with splice between sockets instead of running a TCP/IP stack
// in user space, so throughput is close to the host's; slirp4netns's
// libslirp re-segments every stream. Each takes a few hundred ms to start
// on a loaded 2-core machine (see bench/network.sh), which is why there
// is one pasta per network, started when its first container joins,
// rather than one per container: joining a running network costs a
// namespace and a veth (a few ms of netlink), and a build holds the
// default network from its first RUN to its end (package build). A
// network's first container waits for pasta and the network's nft rules,
// started side by side (pasta is told the host's gateway, so the rules
// need not wait for it). Leaving costs an unmount: a sandbox's veths go
// with its namespace, which the kernel destroys in the background, and a
// network's pasta is told to end, not waited for. pasta runs with
// nothing forwarded in either direction (-t/-u/-T/-U none), so
// a container cannot reach the host's loopback services through it; its
// gateway mapping (the gateway address reaches the host's loopback) is
// dropped by the network's nft rules except for the containers that ask
// for it with --add-host NAME:host-gateway, as docker's opt-in. Debian
// 12's pasta (2023-03) resets a long stream from a container to the
// host's loopback after some 100-200 MB on a busy machine (pasta sends
// the RST; bench/network.sh counts what arrived): a newer passt is the
// cure, nothing in these rules.
//
// Published ports (-p) stay with the container's monitor (package
// runtime), which dials the container's loopback from inside its
// namespace: that works the same on every network.
//
// Name resolution on user-defined networks is a hosts file kept current
// rather than a DNS server (github.com/miekg/dns): each container's
// /etc/hosts lists its peers, rewritten in place (the inode is
// bind-mounted) under the manager's lock whenever one joins or leaves.
// There is no resolver process to keep alive, restart after a kill -9 or
// reach from inside every namespace, and resolution works the same for
// static binaries that read /etc/hosts; the cost is that a name resolves
// on the next lookup, never mid-lookup, and that names of containers on
// other networks are simply absent. The default network resolves no
// container names, as docker's default bridge.
//
// The verbs' docker side is here too (inspect.go): network ls with
// docker's host and none pseudo-networks, network inspect's shape, and
// the events of create, destroy, connect and disconnect (Options.Events).
//
// State survives a kill -9 of any strata process: a sandbox's record is
// written before anything is made, so Detach (or the sweep run on every
// attach, detach and rm: a record whose container is gone, a build
// step's whose process is gone) releases what was made. A network's
// namespace and pasta go when its last sandbox does.
//
//	<root>/network/
//	├── lock                  flock held by every change
//	├── networks/<id>.json    Network records; "bridge" is made at Open
//	├── run/<network id>/     while the network has containers
//	│   ├── netns             its namespace (bind mount): br0, veths, nft
//	│   ├── pasta.pid
//	│   └── host-gateway      the address host-gateway resolves to
//	└── sandboxes/
//	    ├── <id>.json         Sandbox: the container's endpoints and files
//	    └── <id>.netns        its namespace (bind mount), eth0, eth1…
package network
