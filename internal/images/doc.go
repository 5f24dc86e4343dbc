// Package images turns what users type (busybox, busybox:1.36,
// localhost:5000/app@sha256:…, an image ID or its prefix) into image
// records, and reads what those records point at: manifests, configs and
// layers, for inspect and history. It also writes them: a name pointed
// at a manifest, the untagged record of an image left without one, the
// repository digest of a distributed image (records.go), and the config
// and manifest of an image made here, by import or commit (write.go).
//
// The rows the image verbs show are made here from images and their
// layers' sizes (measured by layer.Sizes): images and system df
// (rows.go), history, the images and image prune filters (filter.go,
// docker's filter rules from package filters), rmi's choice of names and
// untagging, and fsck's check of every record (check.go).
//
// Names follow distribution/reference as docker does: "busybox" is
// docker.io/library/busybox:latest. An image's ID is the digest of its
// config, as in docker, so two names of one image share an ID.
package images
