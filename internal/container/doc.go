// Package container keeps container records and drives their lifecycle:
// create, start, attach, stop, kill, restart, wait, rm, prune, ps, logs,
// exec, diff, commit, export and cp (hostcopy.go: to and from the host's
// files), and the resource limits of update and stats (resources.go; each
// container's cgroup is /strata/<id>). Inspect's docker shape is built
// here from the record, the monitor's status, the sandbox and the volumes
// (inspect.go), with the HostConfig views of package runtime.
//
// The run sequence lives here once (run.go): create → start → attach and
// wait → remove, with one clean-up (finish) for every way a run ends. Run
// (docker run) and StartAttached (start -a) are its two entries; the
// engine calls them for every front end. A run that cannot start leaves
// nothing behind; start -a leaves an existing container as it was. A
// container's place in its life is a State (created, running, paused,
// restarting, exited), read from the monitor's status in one place
// (state.go).
//
// Restart policies (--restart) are carried out by the monitor (package
// runtime's restart.go); here they are recorded, checked (restart.go),
// handed to the monitor at start and by SetRestartPolicy, and ended by
// the user's stop, kill and rm -f (runtime.MarkStopped, before the
// signal). Boot (boot.go) is what a host's start needs without a daemon:
// settle what the reboot left and start the always and unless-stopped
// containers again.
//
// A container is a directory with a record, a snapshot key
// "container-<id>" prepared on the image's chain ID, and, while it runs, a
// monitor (package runtime): a process of its own that outlives the CLI
// for a detached container, the CLI itself for an attached run (with a
// standby process that takes over if the CLI is killed). Nothing here is
// in the metadata database: the record is config.json, the process state
// is the monitor's state.json (checked against runc when the monitor is
// gone), and names are claimed by creating a symlink, so several strata
// processes can work at once.
//
// A container's Config is its image's with create's labels, --expose ports
// and --stop-signal merged in (config.go), as docker's container config.
//
// It does not resolve images (the caller passes ImageRef, ImageID, ChainID
// and the image config), compress layers or make images: Commit returns an
// uncompressed layer tar stream and the caller does the rest.
//
//	<root>/
//	├── runc/                      runc --root
//	└── containers/
//	    ├── names/<name> -> <id>
//	    ├── boot.lock              held by Boot
//	    └── <id>/
//	        ├── config.json        Container (temp file + rename)
//	        ├── state.json         runtime.Status, written by the monitor
//	        ├── monitor.json       runtime.MonitorConfig
//	        ├── bundle/config.json the OCI runtime spec, written at start
//	        ├── bundle/rootfs/     mount point of the snapshot while running
//	        ├── hostname, hosts, resolv.conf
//	        ├── attach.sock, init.pid, runc.log, monitor.log
//	        ├── stopped-by-user    the user stopped it (runtime.MarkStopped)
//	        └── <id>-json.log      docker json-file log
package container
