package build_test

import (
	"context"
	"testing"

	"github.com/strata-project/strata/internal/engine"
)

// TestDiskUsageBuildCache: system df's Build Cache row counts the cache's
// records, those an image also uses, and only the disk no image holds, so
// it adds up with the Images row; builder prune --all empties it.
func TestDiskUsageBuildCache(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nENV A=1\nRUN head -c 100000 /dev/urandom > /r1\nRUN head -c 50000 /dev/urandom > /r2\n"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"df:1"}})
	du := diskUsage(t, e)
	if du.BuildCacheRecords != 2 || du.BuildCacheActive != 0 || du.BuildCacheSize != 0 {
		t.Errorf("with the image tagged: records %d, active %d, size %d; want 2, 0 (no build holds them), 0",
			du.BuildCacheRecords, du.BuildCacheActive, du.BuildCacheSize)
	}
	if _, err := e.RemoveImage(ctx, "df:1", false); err != nil {
		t.Fatal(err)
	}
	du = diskUsage(t, e)
	if du.BuildCacheRecords != 2 || du.BuildCacheActive != 0 || du.BuildCacheSize < 150000 || du.BuildCacheSize > 200000 {
		t.Errorf("with the image gone: records %d, active %d, size %d; want 2, 0, about 150000",
			du.BuildCacheRecords, du.BuildCacheActive, du.BuildCacheSize)
	}
	if _, err := e.PruneBuildCache(ctx, engine.BuilderPruneOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	du = diskUsage(t, e)
	if du.BuildCacheRecords != 0 || du.BuildCacheSize != 0 {
		t.Errorf("after prune --all: records %d, size %d; want 0, 0", du.BuildCacheRecords, du.BuildCacheSize)
	}
}

func diskUsage(t *testing.T, e *engine.Engine) engine.DiskUsage {
	t.Helper()
	du, err := e.DiskUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return du
}
