// Package remote is Strata's registry client: the client side of the OCI
// distribution spec (https://github.com/opencontainers/distribution-spec/blob/main/spec.md).
//
// It owns talking HTTP to a registry: choosing HTTP or HTTPS and the CAs to
// trust (hosts.go: HTTPS with the system pool plus
// /etc/docker/certs.d/HOST/*.crt and /etc/strata/certs.d/HOST/*.crt; for
// loopback registries and those named insecure, unverified HTTPS when they
// speak it, else plain HTTP), finding credentials in docker's config file and its
// credential helpers (credentials.go), answering Basic and Bearer-token
// challenges (auth.go), retrying what failed for want of a server
// (client.go), resolving, fetching and putting manifests (manifest.go), fetching
// blobs from an offset, resuming a body a broken connection cut short
// (fetch.go, blobreader.go), and pushing blobs in resumable chunks,
// mounting them from other repositories where it can (push.go).
//
// It leaves to others what the bytes mean: transfer decides which blobs
// to fetch or push, stores and verifies them through the content store and
// has the layer pipeline unpack layers. Nothing here keeps a blob in memory; manifests are read
// through a 4 MiB cap and error bodies through 64 KiB.
//
// Upload sessions a push started are remembered (SessionStore) so that a
// push cut short continues, in a later process, from the offset the
// registry reports: GET on the upload URL answers with a Range header
// (distribution-spec "Pushing a blob in chunks"). A session is forgotten
// (and cancelled on the registry) once its blob is known to be there;
// DirSessions.Prune removes the ones nobody came back for.
package remote
