package registry_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/registry/backend/s3blobs"
	"github.com/strata-project/strata/internal/testutil"
)

// TestClientsReplicas runs every client's push, pull, tag, list, copy
// (cross-repository mount) and delete through a round-robin proxy over
// three replicas sharing one S3 bucket (versitygw) and one PostgreSQL
// database, so that consecutive requests of one client land on different
// servers. Then fsck checks S3 against the database.
func TestClientsReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping real clients in -short mode")
	}
	img := writeImage(t, t.TempDir())
	v := testutil.Versity(t)
	var bucket atomic.Int32
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			testClient(t, c, img, false, func(t *testing.T, _, _ string) (string, *requestLog) {
				opts := registry.Options{AccessPolicy: registry.AccessPolicy{Delete: true}}
				opts.Storage.S3 = &s3blobs.Config{
					Endpoint: v.Endpoint, Bucket: "clients" + string(rune('a'+bucket.Add(1))), Prefix: "reg/",
					AccessKey: v.AccessKey, SecretKey: v.SecretKey, ForcePathStyle: true,
				}
				opts.Database = testutil.PostgresDB(t)
				var targets []string
				var first *registry.Registry
				for range 3 {
					g, err := registry.New(nil, "", opts)
					if err != nil {
						t.Fatal(err)
					}
					if first == nil {
						first = g
					}
					srv := httptest.NewServer(g)
					targets = append(targets, srv.URL)
					t.Cleanup(func() {
						srv.Close()
						g.Close()
					})
				}
				// Runs after the client test (clean-ups are last in, first out).
				t.Cleanup(func() {
					if err := first.Fsck(context.Background(), t.Output()); err != nil {
						t.Errorf("fsck after %s: %v", c.name, err)
					}
				})
				log := &requestLog{h: testutil.NewRoundRobin(targets...)}
				srv := httptest.NewServer(log)
				t.Cleanup(srv.Close)
				u, _ := url.Parse(srv.URL)
				return u.Host, log
			})
		})
	}
}
