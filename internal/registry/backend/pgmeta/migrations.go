package pgmeta

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are applied in order, each in its own transaction, and never
// edited once released: a change of schema is a new entry. The version
// applied last is kept in strata_schema.
var migrations = []string{
	// 1: the index.
	`CREATE TABLE repositories (
		name text COLLATE "C" PRIMARY KEY
	);
	CREATE TABLE blob_links (
		repo   text COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
		digest text COLLATE "C" NOT NULL,
		linked timestamptz NOT NULL,
		PRIMARY KEY (repo, digest)
	);
	CREATE TABLE manifests (
		repo    text COLLATE "C" NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
		digest  text COLLATE "C" NOT NULL,
		record  jsonb NOT NULL,
		subject text COLLATE "C",
		created timestamptz NOT NULL,
		PRIMARY KEY (repo, digest)
	);
	CREATE INDEX manifests_subject ON manifests (repo, subject) WHERE subject IS NOT NULL;
	CREATE TABLE tags (
		repo   text COLLATE "C" NOT NULL,
		tag    text COLLATE "C" NOT NULL,
		digest text COLLATE "C" NOT NULL,
		PRIMARY KEY (repo, tag),
		FOREIGN KEY (repo, digest) REFERENCES manifests (repo, digest) ON DELETE CASCADE
	);
	CREATE TABLE uploads (
		id       text PRIMARY KEY,
		repo     text NOT NULL,
		record   jsonb NOT NULL,
		"offset" bigint NOT NULL DEFAULT 0,
		updated  timestamptz NOT NULL
	);`,
}

// migrateLockKey serialises migrations of replicas starting together.
const migrateLockKey = 0x5354524154414d47 // "STRATAMG"

// migrate brings the schema to len(migrations). A database newer than this
// binary is refused rather than used.
func (m *Meta) migrate(ctx context.Context) error {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS strata_schema (version int NOT NULL)`); err != nil {
		return err
	}
	var version int
	err = conn.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM strata_schema`).Scan(&version)
	if err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this strata knows (%d): upgrade strata", version, len(migrations))
	}
	for v := version + 1; v <= len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM strata_schema; INSERT INTO strata_schema (version) VALUES (`+fmt.Sprint(v)+`)`)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v, err)
		}
	}
	return nil
}
