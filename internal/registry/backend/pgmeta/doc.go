// Package pgmeta is the registry index (backend.Meta) in PostgreSQL, so
// that any number of registry servers share one index: Quay and Harbor
// keep theirs the same way.
//
// It uses github.com/jackc/pgx/v5 (the maintained pure-Go driver, with a
// connection pool and PostgreSQL's binary protocol) and nothing else.
//
// Schema (migrations.go; applied at Open, versioned, under an advisory
// lock so replicas starting together apply each once):
//
//	repositories (name)                               catalog: PK index scan
//	blob_links   (repo, digest, linked)               PK (repo, digest)
//	manifests    (repo, digest, record jsonb, subject, created)
//	tags         (repo, tag, digest)                  PK (repo, tag); FK to manifests, ON DELETE CASCADE
//	uploads      (id, repo, record jsonb, offset, updated)
//
// Names, tags and digests are COLLATE "C", so tag lists and the catalog are
// in byte order (as bbolt's are) and a page is an index range scan whatever
// the table holds.
//
// GC against writers across processes: Lock takes a PostgreSQL advisory
// lock on its own pooled connection, shared for writers and exclusive for
// GC; a replica that dies releases its locks with its connections.
package pgmeta
