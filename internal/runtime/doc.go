// Package runtime turns an image config and run flags into an OCI runtime
// spec, drives runc, and runs the per-container monitor that keeps a
// detached container's logs, publishes its ports and records its exit.
//
// It owns no record of containers (package container does) and mounts
// nothing but the monitor's final unmount of the rootfs it is given.
//
// The monitor is a re-exec of the strata binary (the hidden command the
// CLI wires to MonitorMain): StartMonitor starts it in a session of its
// own, so it outlives the CLI, and waits for its one-line report on fd 3
// (created, with the pid and bound ports, or why not). The monitor is
// runc's parent and a child subreaper, so the container's init becomes its
// child after runc create; it waits for it, writes the exit status, runs
// runc delete, unmounts the rootfs and exits. If it is killed the
// container runs on; Probe then asks runc.
//
// Ports are published without a bridge: the monitor listens on the host
// address (127.0.0.1 unless one is given: see DefaultHostIP) and, per
// connection, dials 127.0.0.1:PORT from an OS thread that has entered the
// container's network namespace.
//
// Files in a container's directory that this package reads or writes:
//
//	<dir>/
//	├── monitor.json     MonitorConfig (StartMonitor)
//	├── state.json       Status (the monitor; temp file + rename)
//	├── attach.sock      the monitor's attach socket while it runs
//	├── console.sock     runc's --console-socket, during create with a tty
//	├── init.pid         runc's --pid-file
//	├── runc.log         runc's own messages (JSON lines)
//	├── monitor.log      the monitor's stderr
//	└── <LogPath>        the container's output, docker json-file lines
package runtime
