// Package images turns what users type (busybox, busybox:1.36,
// localhost:5000/app@sha256:…, an image ID or its prefix) into image
// records, and reads what those records point at: manifests, configs and
// layers, for inspect and history.
//
// Names follow distribution/reference as docker does: "busybox" is
// docker.io/library/busybox:latest. An image's ID is the digest of its
// config, as in docker, so two names of one image share an ID.
package images
