package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-project/strata/internal/content"
	"github.com/strata-project/strata/internal/registry/backend"
	"github.com/strata-project/strata/internal/registry/backend/backendtest"
	"github.com/strata-project/strata/internal/registry/backend/pgmeta"
	"github.com/strata-project/strata/internal/registry/backend/s3blobs"
	"github.com/strata-project/strata/internal/testutil"
)

// TestMain stops the package's PostgreSQL cluster, if a test started one.
// With STRATA_TEST_REGISTRY_REPLICA set, the test binary is instead a
// registry server process for TestReplicasKill9.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(replicaEnv); cfg != "" {
		serveReplica(cfg)
	}
	code := m.Run()
	testutil.StopPostgres()
	os.Exit(code)
}

// s3Config points at a fresh bucket of a versitygw started for the test.
func s3Config(t *testing.T, v *testutil.VersityGW, bucket string) *s3blobs.Config {
	return &s3blobs.Config{
		Endpoint: v.Endpoint, Region: "us-east-1", Bucket: bucket, Prefix: "reg/",
		AccessKey: v.AccessKey, SecretKey: v.SecretKey, ForcePathStyle: true,
	}
}

func TestBackendContract(t *testing.T) {
	t.Run("local+bbolt", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) (backend.Blobs, backend.Meta) {
			dir := t.TempDir()
			store, err := content.Open(filepath.Join(dir, "content"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := OpenBoltMeta(filepath.Join(dir, "registry.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return LocalBlobs(store), m
		})
	})
	t.Run("s3+postgres", func(t *testing.T) {
		v := testutil.Versity(t)
		n := 0
		backendtest.Run(t, func(t *testing.T) (backend.Blobs, backend.Meta) {
			n++
			b, err := s3blobs.Open(context.Background(), *s3Config(t, v, "contract"+string(rune('a'+n%26))+string(rune('a'+n/26))))
			if err != nil {
				t.Fatal(err)
			}
			m, err := pgmeta.Open(context.Background(), testutil.PostgresDB(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return b, m
		})
	})
}
