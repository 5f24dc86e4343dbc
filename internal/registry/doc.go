// Package registry is Strata's registry server: an http.Handler for the OCI
// distribution spec v1.1 (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md),
// its storage layout, its online garbage collector and fsck.
//
// It owns the endpoints (routes.go), who may call them (auth.go: htpasswd
// or bearer tokens from auth_token.go, checked against the access policy
// of policy.go before any handler runs, so the policy is the same on every
// back end), upload sessions (upload.go), manifest
// validation (manifest.go), tags, catalog and referrers (tags.go), the
// error table (errors.go), GC (gc.go), fsck (fsck.go), and Serve with TLS
// and graceful shutdown (serve.go). It keeps blob bytes and its index
// behind the two interfaces of registry/backend (Blobs, Meta): by default
// internal/content (verify, commit by rename, resumable ingests; through
// blobs_local.go) and bbolt (index.go, meta_bolt.go); or S3
// (backend/s3blobs) and PostgreSQL (backend/pgmeta), chosen in
// backends.go. Basic auth is registry/htpasswd's, flags and output the
// CLI's.
//
// # Storage
//
// Blobs, manifests included, are stored once in a content.Store, in the
// same content-addressed format as the engine's store. The store must be
// the registry's own: GC deletes every blob of it that no repository
// references. Everything else lives in one bbolt database, the index:
//
//	<store root>/
//	  blobs/sha256/<hex>            every blob, once, read-only (content.Store)
//	  blobs/sha512/<hex>
//	  ingest/<key>/{ref,data,lock}  uploads in progress, ref "registry-upload/<id>"
//	<root>/
//	  registry.db                   bbolt, held open by the one server
//	    repos/                      one bucket per repository, keyed by name
//	      <name>/
//	        blobs/      <digest> -> link time (8 bytes, unix ns, big endian)
//	        manifests/  <digest> -> JSON manifestRecord (media type, size,
//	                                artifactType, subject, annotations, the
//	                                blobs and child manifests it needs, time)
//	        tags/       <tag> -> <digest>
//	        referrers/  <subject digest> "\x00" <digest> -> empty
//	    uploads/        <id> -> JSON uploadRecord (repository, algorithm, start)
//
// Why bbolt rather than link files as distribution has: the tags list and
// the catalog are one cursor seek plus n steps on sorted keys (a page at
// 10,000 tags costs the same as at 10), a manifest put records the
// manifest, its tags and its referrer entry in one transaction, and GC
// reads a consistent snapshot. Read transactions never block, so GETs scale
// with cores; writes serialize, which costs an fsync per upload completion
// or manifest put, not per chunk. The server holds the file open; other
// processes reach a running registry through its HTTP admin endpoints.
//
// Crash order: bytes are committed to the store (fsync, rename) before the
// index points at them, so a crash leaves at most unreferenced blobs (GC
// removes them) or ingests (their uploads resume, or expire).
//
// # Replicas
//
// With storage.s3 and database set, a server keeps nothing of its own:
// any number of them with the same configuration, behind any load
// balancer, serve one registry.
//
//   - Uploads: a session's bytes are chunk objects in S3 and its state
//     (offset, the chunk list, the saved sha256 state) a row in
//     PostgreSQL. Each request loads the row, resumes, and stores the new
//     state with a compare-and-swap on the offset, so chunks may alternate
//     between replicas and a replica killed mid-request loses only the
//     unacknowledged request. The blob is assembled under its digest key
//     only after the digest is verified (see s3blobs).
//   - Tags and manifest puts are single PostgreSQL transactions.
//   - GC: the lock writers take shared and GC exclusively is a
//     PostgreSQL advisory lock, so one GC runs at a time across replicas
//     and pushes on the others are safe (with the grace window, as on one
//     machine). Marks are computed in memory from a snapshot of each
//     repository, not stored.
//   - Auth: htpasswd files and the access policy come from the config,
//     the same on every replica; bearer tokens are verified statelessly.
//   - S3 or PostgreSQL unreachable: 503, and clients retry.
//
// # Uploads
//
// A session's bytes are a content ingest keyed by its id. The writer stays
// open between requests (and is closed after a minute idle); after a
// restart it is reopened from the index record and re-hashes what is
// there. A PATCH cut short keeps what arrived; GET reports the offset.
// Chunks whose Content-Range does not start at the offset get 416 before
// a byte is read. Sessions untouched for Options.UploadExpiry go away.
// A PUT whose digest uses another algorithm than the ingest's re-hashes
// the ingest with it, so sha512 uploads need no hint up front.
//
// # Garbage collection
//
// See (*Registry).GC. It runs while the server serves: requests that make a
// blob reachable hold a read lock between relying on the blob and
// recording the reference; GC holds the write lock; anything younger than
// the grace window is kept. POST /strata/v1/gc[?dry-run=1&grace=1h] and
// POST /strata/v1/fsck run them on a live server; they require an admin
// (any authenticated user when the config has neither admins nor an
// access section), and a loopback client when there is no authentication.
// A grace below MinGCGrace needs force=1.
package registry
