// Package volume owns docker's volumes: the local driver's store of named
// and anonymous volumes under the Strata root, and the parsing and
// checking of the mount specs that name them (run's -v and --mount, the
// Engine API's HostConfig.Binds and HostConfig.Mounts).
//
// It knows nothing of containers: the container store (package container)
// resolves a container's mounts with it, tells it which volumes are in use
// (Options.InUse), and hands the runtime spec the mounts it returns. The
// engine exposes the verbs (volume create/ls/inspect/rm/prune) over it,
// reading docker's filters; docker's side of them lives here (docker.go):
// the JSON shape (View), prune, system df's Usage and the volume events
// (Options.Events). gc never sweeps a volume (volumes live outside the
// content store and the snapshotter), so a volume goes only by volume rm,
// volume prune, or rm -v/--rm of the container an anonymous one was made
// for, as in docker.
//
// Layout (docker's, under the store root, which is 0700: see content.Open):
//
//	<root>/volumes/                 0700
//	├── <name>/
//	│   ├── volume.json             Volume record, written before the rename
//	│   └── _data/                  the data a container sees (Mountpoint)
//	└── .creating-<pid>-<rand>/     a volume being made, renamed to <name>
//	                                when complete; a dead process's is
//	                                removed by the next Open
//
// A volume appears under its name only whole (record and _data), by one
// rename, so a kill -9 at any moment leaves either no volume or a complete
// one. Copying an image's content into an empty volume (CopyUp) works the
// same way: into a staging directory beside _data, swapped in by renames;
// a copy cut short is removed and done again on the next use.
//
// The local driver's options are docker's: type, o and device, given to
// mount(2) when a container mounts the volume (type=tmpfs, or o=bind with
// device=HOST_PATH); the volume's own _data is then unused.
package volume
