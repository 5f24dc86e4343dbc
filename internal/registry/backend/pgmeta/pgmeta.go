package pgmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/registry/backend"
)

// gcLockKey is the advisory lock ordering GC against writers.
const gcLockKey = 0x5354524154414743 // "STRATAGC"

// Meta is a backend.Meta on a PostgreSQL database.
type Meta struct {
	pool *pgxpool.Pool
	// locks holds the connections of GC locks. It is a pool of its own:
	// a writer holds its lock while it records, and if both came from one
	// pool, writers holding every connection would wait forever for one
	// more to record with.
	locks *pgxpool.Pool
}

// lockConns bounds the writers of one replica between relying on a blob
// and recording it; more wait for a connection.
const lockConns = 16

var _ backend.Meta = (*Meta)(nil)

// Open connects to the database at url (a postgres:// URL or key=value
// string) and migrates its schema to the current version.
func Open(ctx context.Context, url string) (*Meta, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", redact(url), err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", redact(url), err)
	}
	lcfg := cfg.Copy()
	lcfg.MaxConns = lockConns
	locks, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", redact(url), err)
	}
	m := &Meta{pool: pool, locks: locks}
	if err := m.migrate(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("database %s: %w", redact(url), wrap(err))
	}
	return m, nil
}

// redact drops a password from a URL for messages.
func redact(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(unparsable URL)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Close closes the pool.
func (m *Meta) Close() error {
	m.pool.Close()
	m.locks.Close()
	return nil
}

// wrap marks failures to reach the server as errdefs.ErrUnavailable (the
// registry answers 503 and clients retry).
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		// 57P01 admin_shutdown, 57P03 cannot_connect_now, 08xxx connection
		if pe.Code == "57P01" || pe.Code == "57P03" || pe.Code[:2] == "08" {
			return fmt.Errorf("%w: %v", errdefs.ErrUnavailable, err)
		}
		return err
	case errors.As(err, &ne), pgconn.SafeToRetry(err), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %v", errdefs.ErrUnavailable, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %v", errdefs.ErrUnavailable, err)
	}
	return err
}

func notFound(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrNotFound)...)
}

// tx runs fn in a transaction.
func (m *Meta) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return wrap(pgx.BeginFunc(ctx, m.pool, fn))
}

const ensureRepo = `INSERT INTO repositories (name) VALUES ($1) ON CONFLICT DO NOTHING`

func (m *Meta) LinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	return m.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, ensureRepo, repo); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO blob_links (repo, digest, linked) VALUES ($1, $2, now())
			ON CONFLICT (repo, digest) DO UPDATE SET linked = now()`, repo, dgst.String())
		return err
	})
}

func (m *Meta) BlobLinked(ctx context.Context, repo string, dgst digest.Digest) (bool, error) {
	var ok bool
	err := m.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blob_links WHERE repo = $1 AND digest = $2)`, repo, dgst.String()).Scan(&ok)
	return ok, wrap(err)
}

func (m *Meta) MountBlob(ctx context.Context, repo, from string, dgst digest.Digest) (bool, error) {
	ok := false
	err := m.tx(ctx, func(tx pgx.Tx) error {
		if from != "" {
			var linked bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blob_links WHERE repo = $1 AND digest = $2 FOR SHARE)`, from, dgst.String()).Scan(&linked)
			if err != nil || !linked {
				return err
			}
		}
		ok = true
		if _, err := tx.Exec(ctx, ensureRepo, repo); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO blob_links (repo, digest, linked) VALUES ($1, $2, now())
			ON CONFLICT (repo, digest) DO UPDATE SET linked = now()`, repo, dgst.String())
		return err
	})
	return ok, err
}

func (m *Meta) UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	tag, err := m.pool.Exec(ctx, `DELETE FROM blob_links WHERE repo = $1 AND digest = $2`, repo, dgst.String())
	if err != nil {
		return wrap(err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("%s@%s", repo, dgst)
	}
	return nil
}

func (m *Meta) ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d string
	err := m.pool.QueryRow(ctx, `SELECT digest FROM tags WHERE repo = $1 AND tag = $2`, repo, tag).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("%s:%s", repo, tag)
	}
	return digest.Digest(d), wrap(err)
}

func (m *Meta) Manifest(ctx context.Context, repo string, dgst digest.Digest) (*backend.ManifestRecord, error) {
	var raw []byte
	err := m.pool.QueryRow(ctx, `SELECT record FROM manifests WHERE repo = $1 AND digest = $2`, repo, dgst.String()).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("%s@%s", repo, dgst)
	}
	if err != nil {
		return nil, wrap(err)
	}
	var rec backend.ManifestRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("record of %s@%s: %w", repo, dgst, err)
	}
	return &rec, nil
}

func digestStrings(ds []digest.Digest) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// missing returns the first of want that the query over (repo, want)
// does not return.
func missing(ctx context.Context, tx pgx.Tx, query, repo string, want []digest.Digest) (digest.Digest, error) {
	if len(want) == 0 {
		return "", nil
	}
	rows, err := tx.Query(ctx, query, repo, digestStrings(want))
	if err != nil {
		return "", err
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, h := range have {
		seen[h] = true
	}
	for _, d := range want {
		if !seen[d.String()] {
			return d, nil
		}
	}
	return "", nil
}

func (m *Meta) PutManifest(ctx context.Context, repo string, dgst digest.Digest, rec *backend.ManifestRecord, tags []string, blobs, children []digest.Digest) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var subject *string
	if rec.Subject != "" {
		s := rec.Subject.String()
		subject = &s
	}
	return m.tx(ctx, func(tx pgx.Tx) error {
		// FOR SHARE holds the links and children until commit: a
		// concurrent unlink or delete waits, and then the references
		// this manifest needs are recorded.
		d, err := missing(ctx, tx, `SELECT digest FROM blob_links WHERE repo = $1 AND digest = ANY($2) FOR SHARE`, repo, blobs)
		if err != nil {
			return err
		}
		if d != "" {
			return &backend.MissingError{Digest: d}
		}
		d, err = missing(ctx, tx, `SELECT digest FROM manifests WHERE repo = $1 AND digest = ANY($2) FOR SHARE`, repo, children)
		if err != nil {
			return err
		}
		if d != "" {
			return &backend.MissingError{Digest: d, Manifest: true}
		}
		if _, err := tx.Exec(ctx, ensureRepo, repo); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO manifests (repo, digest, record, subject, created) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (repo, digest) DO UPDATE SET record = EXCLUDED.record, subject = EXCLUDED.subject, created = EXCLUDED.created`,
			repo, dgst.String(), raw, subject, rec.Created)
		if err != nil {
			return err
		}
		for _, t := range tags {
			_, err := tx.Exec(ctx, `INSERT INTO tags (repo, tag, digest) VALUES ($1, $2, $3)
				ON CONFLICT (repo, tag) DO UPDATE SET digest = EXCLUDED.digest`, repo, t, dgst.String())
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *Meta) DeleteTag(ctx context.Context, repo, tag string) error {
	ct, err := m.pool.Exec(ctx, `DELETE FROM tags WHERE repo = $1 AND tag = $2`, repo, tag)
	if err != nil {
		return wrap(err)
	}
	if ct.RowsAffected() == 0 {
		return notFound("%s:%s", repo, tag)
	}
	return nil
}

func (m *Meta) DeleteManifest(ctx context.Context, repo string, dgst digest.Digest) error {
	// Tags go with it (ON DELETE CASCADE); the referrer entry is the row.
	ct, err := m.pool.Exec(ctx, `DELETE FROM manifests WHERE repo = $1 AND digest = $2`, repo, dgst.String())
	if err != nil {
		return wrap(err)
	}
	if ct.RowsAffected() == 0 {
		return notFound("%s@%s", repo, dgst)
	}
	return nil
}

// page runs a keyset query for n+1 rows after last.
func (m *Meta) page(ctx context.Context, query string, n int, args ...any) ([]string, bool, error) {
	out := []string{}
	if n == 0 {
		return out, false, nil
	}
	rows, err := m.pool.Query(ctx, query, append(args, n+1)...)
	if err != nil {
		return nil, false, wrap(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, false, wrap(err)
	}
	if len(got) > n {
		return got[:n], true, nil
	}
	return append(out, got...), false, nil
}

func (m *Meta) Tags(ctx context.Context, repo, last string, n int) ([]string, bool, error) {
	var exists bool
	if err := m.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM repositories WHERE name = $1)`, repo).Scan(&exists); err != nil {
		return nil, false, wrap(err)
	}
	if !exists {
		return nil, false, notFound("%s", repo)
	}
	return m.page(ctx, `SELECT tag FROM tags WHERE repo = $1 AND tag > $2 ORDER BY tag LIMIT $3`, n, repo, last)
}

func (m *Meta) Repositories(ctx context.Context, last string, n int) ([]string, bool, error) {
	return m.page(ctx, `SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2`, n, last)
}

func (m *Meta) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]backend.Referrer, error) {
	rows, err := m.pool.Query(ctx, `SELECT digest, record FROM manifests WHERE repo = $1 AND subject = $2 ORDER BY digest`, repo, subject.String())
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []backend.Referrer
	for rows.Next() {
		var d string
		var raw []byte
		if err := rows.Scan(&d, &raw); err != nil {
			return nil, wrap(err)
		}
		var rec backend.ManifestRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			continue
		}
		out = append(out, backend.Referrer{Digest: digest.Digest(d), Record: &rec})
	}
	return out, wrap(rows.Err())
}

func (m *Meta) PutUpload(ctx context.Context, id string, rec backend.UploadRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = m.pool.Exec(ctx, `INSERT INTO uploads (id, repo, record, "offset", updated) VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, "offset" = EXCLUDED."offset", updated = now()`,
		id, rec.Repo, raw, rec.Offset)
	return wrap(err)
}

func (m *Meta) UpdateUpload(ctx context.Context, id string, from int64, rec backend.UploadRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ct, err := m.pool.Exec(ctx, `UPDATE uploads SET record = $2, "offset" = $3, updated = now() WHERE id = $1 AND "offset" = $4`,
		id, raw, rec.Offset, from)
	if err != nil {
		return wrap(err)
	}
	if ct.RowsAffected() == 1 {
		return nil
	}
	var cur int64
	err = m.pool.QueryRow(ctx, `SELECT "offset" FROM uploads WHERE id = $1`, id).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("upload %s", id)
	}
	if err != nil {
		return wrap(err)
	}
	return fmt.Errorf("upload %s is at %d, not %d: %w", id, cur, from, errdefs.ErrConflict)
}

func (m *Meta) Upload(ctx context.Context, id string) (backend.UploadRecord, error) {
	var raw []byte
	var rec backend.UploadRecord
	err := m.pool.QueryRow(ctx, `SELECT record FROM uploads WHERE id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, notFound("upload %s", id)
	}
	if err != nil {
		return rec, wrap(err)
	}
	return rec, json.Unmarshal(raw, &rec)
}

func (m *Meta) DeleteUpload(ctx context.Context, id string) error {
	_, err := m.pool.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, id)
	return wrap(err)
}

func (m *Meta) FinishUpload(ctx context.Context, id, repo string, dgst digest.Digest) error {
	return m.tx(ctx, func(tx pgx.Tx) error {
		if id != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, ensureRepo, repo); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO blob_links (repo, digest, linked) VALUES ($1, $2, now())
			ON CONFLICT (repo, digest) DO UPDATE SET linked = now()`, repo, dgst.String())
		return err
	})
}

func (m *Meta) Uploads(ctx context.Context) (map[string]backend.UploadRecord, error) {
	rows, err := m.pool.Query(ctx, `SELECT id, record FROM uploads`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := map[string]backend.UploadRecord{}
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, wrap(err)
		}
		var rec backend.UploadRecord
		_ = json.Unmarshal(raw, &rec) // a bad record expires like an old one
		out[id] = rec
	}
	return out, wrap(rows.Err())
}

// Lock takes the GC advisory lock on a connection of the lock pool, held
// until the returned func runs.
func (m *Meta) Lock(ctx context.Context, exclusive bool) (func(), error) {
	conn, err := m.locks.Acquire(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	lock, unlock := "SELECT pg_advisory_lock_shared($1)", "SELECT pg_advisory_unlock_shared($1)"
	if exclusive {
		lock, unlock = "SELECT pg_advisory_lock($1)", "SELECT pg_advisory_unlock($1)"
	}
	if _, err := conn.Exec(ctx, lock, int64(gcLockKey)); err != nil {
		conn.Release()
		return nil, wrap(err)
	}
	return func() {
		// A connection that cannot unlock is closed rather than pooled,
		// and the server drops its locks with it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, unlock, int64(gcLockKey)); err != nil {
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

// Repos reads each repository in a REPEATABLE READ transaction of its own.
func (m *Meta) Repos(ctx context.Context, fn func(backend.RepoState) error) error {
	rows, err := m.pool.Query(ctx, `SELECT name FROM repositories ORDER BY name`)
	if err != nil {
		return wrap(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return wrap(err)
	}
	for _, name := range names {
		st := backend.RepoState{
			Name:      name,
			Manifests: map[digest.Digest]*backend.ManifestRecord{},
			Tags:      map[string]digest.Digest{},
			Links:     map[digest.Digest]time.Time{},
		}
		err := pgx.BeginTxFunc(ctx, m.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT digest, record FROM manifests WHERE repo = $1`, name)
			if err != nil {
				return err
			}
			for rows.Next() {
				var d string
				var raw []byte
				if err := rows.Scan(&d, &raw); err != nil {
					return err
				}
				var rec backend.ManifestRecord
				if err := json.Unmarshal(raw, &rec); err != nil {
					rows.Close()
					return fmt.Errorf("record %s@%s: %w", name, d, err)
				}
				st.Manifests[digest.Digest(d)] = &rec
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, `SELECT tag, digest FROM tags WHERE repo = $1`, name)
			if err != nil {
				return err
			}
			for rows.Next() {
				var t, d string
				if err := rows.Scan(&t, &d); err != nil {
					return err
				}
				st.Tags[t] = digest.Digest(d)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, `SELECT digest, linked FROM blob_links WHERE repo = $1`, name)
			if err != nil {
				return err
			}
			for rows.Next() {
				var d string
				var at time.Time
				if err := rows.Scan(&d, &at); err != nil {
					return err
				}
				st.Links[digest.Digest(d)] = at
			}
			return rows.Err()
		})
		if err != nil {
			return wrap(err)
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	return nil
}

func (m *Meta) Sweep(ctx context.Context, repo string, manifests, links []digest.Digest) error {
	return m.tx(ctx, func(tx pgx.Tx) error {
		if len(manifests) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM manifests WHERE repo = $1 AND digest = ANY($2)`, repo, digestStrings(manifests)); err != nil {
				return err
			}
		}
		if len(links) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM blob_links WHERE repo = $1 AND digest = ANY($2)`, repo, digestStrings(links)); err != nil {
				return err
			}
		}
		return nil
	})
}
