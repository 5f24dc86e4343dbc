// Package api serves the Docker Engine API over HTTP, so that the tools
// docker users already have (the docker CLI, docker-compose, the Docker
// SDKs, testcontainers) drive Strata, as `podman system service` lets them
// drive Podman.
//
// It is a front end beside internal/cli, never a second engine: every
// request calls the same engine methods a strata verb calls, on the same
// store, so an image pulled through the socket shows in `strata images` and
// back. The server keeps no state of its own beyond what the engine keeps:
// it can be killed (even with kill -9) and started again at any time.
//
// Versions: the API paths may carry a version prefix (/v1.41/images/json)
// or none; every version from MinVersion (1.41, Debian's docker 20.10
// client) to MaxVersion (1.50, the docker 28 CLI) is served, and the
// /_ping and /version answers carry the headers clients negotiate with
// (Api-Version, Builder-Version, Ostype). Types come from the official
// github.com/moby/moby/api module, not hand-written copies.
//
// Errors are docker's: {"message": "..."} with 400 for bad parameters, 404
// for what does not exist ("No such image: x"), 409 for conflicts, 501 for
// what Strata does not serve yet (naming it), 503 for swarm, 404 for
// plugins and distribution (as Podman answers them).
//
// Listening: a unix socket (0660, group docker) is refused when another
// server answers on it and replaced when its server died; tcp is served on
// loopback, or elsewhere only with TLS verifying client certificates; the
// sockets systemd passes (socket activation) are served as they are.
//
// Files: server.go (routing, versions, errors), listen.go (unix, tcp, TLS
// and systemd listeners), system.go (ping, version, info, auth), df.go
// (system df), images.go (the image endpoints, import), stream.go
// (docker's JSON message stream for progress), containers.go (create,
// list, lifecycle, logs), container_admin.go (top, rename, update, prune,
// resize), container_fs.go (export, changes, commit), attach.go (docker
// run's attach, start and wait), exec.go, archive.go (docker cp), stats.go,
// build.go, networks.go, volumes.go.
package api
