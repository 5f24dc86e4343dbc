// Package runtime turns an image config and run flags into an OCI runtime
// spec, drives runc, and runs the per-container monitor that keeps a
// detached container's logs, publishes its ports and records its exit.
//
// Security (security.go) holds docker's hardening flags and applies
// them to the spec: capabilities (capabilities.go), docker's seccomp
// profile from github.com/moby/profiles/seccomp or one in its JSON format
// (seccomp.go), host devices (devices.go), groups, tmpfs mounts and
// namespaced sysctls; the zero value is docker's default posture.
//
// It owns no record of containers (package container does) and mounts
// nothing but the monitor's final unmount of the rootfs it is given.
//
// The monitor of a detached container is a re-exec of the strata binary
// (the hidden command the CLI wires to MonitorMain): StartMonitor starts it
// in a session of its own, so it outlives the CLI, and waits for its
// one-line report on fd 3 (started, with the pid and bound ports, or why
// not). An attached run without a terminal needs no second process: the
// CLI is the monitor (StartLocalMonitor), attached through a socketpair,
// and records the same status and logs. A run still going after 250 ms
// starts a standby (the hidden command wired to StandbyMain) that holds
// the output pipes and takes the container over if the CLI is killed;
// DismissStandby ends it when the run is over.
//
// Without a terminal the monitor runs the container as one foreground
// "runc run" (create, start, wait and delete in one runc process), its
// child; runc hands the process pipes of its own and copies them to the
// monitor's (foreground.go). With a terminal it runs runc create (the pty
// master comes back over the console socket) and runc start, and, as a
// child subreaper, reaps the container's init itself and runs runc delete
// (tty.go). It writes the exit status (status.go) and unmounts the rootfs.
// If it is killed the container runs on; Probe then asks runc (runc state,
// never runc's own state.json), and package container settles the exit
// (status unknown, 255) once the container is gone. Whether a monitor
// still lives is package proc's question.
//
// A separate monitor also carries out the container's restart policy
// (restart.go): after an exit it decides by the policy (read back from
// monitor.json, which update rewrites), waits docker's back-off (100 ms
// doubling, at most a minute, reset after a run of 10 s) with the status
// saying Restarting, and runs the container again in place: the rootfs
// stays mounted, the network sandbox kept, the log appended, the same
// host ports published. The user's stop or kill (MarkStopped: a file in
// the container's dir, and SIGUSR1 to a monitor in its back-off) ends it.
//
// Files: spec.go (the runtime spec), runc.go (the runc invocations),
// monitor.go (the monitor process: start, report, clean-up), foreground.go
// and tty.go (running the container without and with a terminal),
// status.go (the recorded status and Probe), local.go and standby.go (an
// attached run as its own monitor), attach.go (the attach protocol; detachkeys.go: the keys that
// leave an attach),
// network.go (network modes), namespaces.go (--ipc, --pid and --uts: the
// namespaces shared with the host), health.go (the healthcheck the monitor
// probes by runc exec while the container runs, kept in health.json),
// logdriver.go (--log-driver json-file|none and --log-opt max-size/max-file:
// the json-file rotated as docker's, <LogPath>.1 the newest rotated file).
//
// Ports are published by the monitor, on every network mode alike: it
// listens on the host address (127.0.0.1 unless one is given: see
// DefaultHostIP) and, per connection, dials 127.0.0.1:PORT from an OS
// thread that has entered the container's network namespace. That
// namespace is package network's sandbox (SpecOptions.NetnsPath) on the
// default or a user-defined network; the monitor (or its standby)
// releases the sandbox once the container exits (MonitorConfig.NetworkRoot).
//
// Resource limits (resources.go) are docker's run flags in docker's units;
// they reach runc as the spec's linux.resources (and, changed, through
// runc update), the rlimits and /dev/shm's size. The monitor watches a
// memory-limited container's cgroup for OOM kills (oom.go), which are gone
// with the cgroup by the time the container has exited; stats.go reads a
// running container's cgroup files (v1 or v2) and network namespace.
//
// Files in a container's directory that this package reads or writes:
//
//	<dir>/
//	├── monitor.json     MonitorConfig (StartMonitor)
//	├── state.json       Status (the monitor; temp file + rename)
//	├── health.json      Health, with a healthcheck (the monitor)
//	├── attach.sock      the monitor's attach socket while it runs
//	├── console.sock     runc's --console-socket, during create with a tty
//	├── init.pid         runc's --pid-file
//	├── runc.log         runc's own messages (JSON lines)
//	├── monitor.log      the monitor's stderr (and an attached run's standby's)
//	├── stopped-by-user  MarkStopped: no restart until the next start
//	└── <LogPath>[.N]    the container's output, docker json-file lines
package runtime
