// Package backend declares the two small interfaces the registry server
// keeps its state behind, so that one server can run on one disk or as
// stateless replicas over shared services:
//
//   - Blobs holds blob bytes by digest: the local content store
//     (internal/registry's default) or S3 (backend/s3blobs).
//   - Meta holds repositories, tags, manifest records, referrers, blob
//     links and upload sessions: bbolt (internal/registry's default) or
//     PostgreSQL (backend/pgmeta).
//
// backendtest holds the one contract suite every implementation passes,
// as distribution's storage/driver/testsuites does for its drivers.
//
// Errors: a missing blob, record, tag or repository is
// errdefs.ErrNotFound; a digest mismatch errdefs.ErrDataCorrupt; a blob
// already stored errdefs.ErrAlreadyExists (success to every caller); a
// service that cannot be reached errdefs.ErrUnavailable (the registry
// answers 503, and the client retries).
package backend
