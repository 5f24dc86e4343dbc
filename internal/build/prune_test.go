package build_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/build/cache"
	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/testutil"
)

// buildUntagged builds df as tag and removes the tag, so that only the
// build cache holds what the build made.
func buildUntagged(t *testing.T, e *engine.Engine, tag, df string) {
	t.Helper()
	mustBuild(t, e, engine.BuildOptions{Context: writeContext(t, map[string]string{"Dockerfile": df}), Tags: []string{tag}})
	if _, err := e.RemoveImage(context.Background(), tag, false); err != nil {
		t.Fatal(err)
	}
}

func cacheEntry(du engine.DiskUsage, id string) (engine.BuildCacheEntry, bool) {
	for _, en := range du.BuildCache {
		if en.ID == id {
			return en, true
		}
	}
	return engine.BuildCacheEntry{}, false
}

func between(n, lo, hi int64) bool { return n >= lo && n <= hi }

// reclaimed says whether a prune that removed entries of these sizes
// freed about that much: what gc freed of the layers (their snapshots'
// blocks, and their tar-split indexes) is a little more than their size,
// or on the native snapshotter much more (each snapshot is a whole copy).
func reclaimed(e *engine.Engine, got, sizes int64) bool {
	if e.Driver() != "overlay" {
		return got >= sizes
	}
	return between(got, sizes, sizes+32768)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestBuilderPruneCacheMountsAndLayers: cache mounts are build cache as
// layers are: system df counts them, and --keep-storage removes layers and
// cache mounts together, least recently used first, until the rest fit.
func TestBuilderPruneCacheMountsAndLayers(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	mounts := filepath.Join(e.Root(), "build-cache-mounts")
	// Used in this order: layer L1 (150 kB), mount m1 (250 kB), then mount
	// m2 (100 kB) and layer L2 (50 kB) in one RUN (the mount's use ends
	// before the build records its layer).
	buildUntagged(t, e, "p:1", "FROM busybox\nRUN head -c 150000 /dev/urandom > /l1\n")
	buildUntagged(t, e, "p:2", "FROM busybox\nRUN --mount=type=cache,id=m1,target=/c head -c 250000 /dev/urandom > /c/f\n")
	l2df := "FROM busybox\nRUN --mount=type=cache,id=m2,target=/c head -c 100000 /dev/urandom > /c/f && head -c 50000 /dev/urandom > /l2\n"
	buildUntagged(t, e, "p:3", l2df)

	du := withoutEmptyLayers(diskUsage(t, e))
	if du.BuildCacheRecords != 4 || du.BuildCacheActive != 0 || du.BuildCacheReclaimable != du.BuildCacheSize {
		t.Errorf("df: %d entries, %d active, size %d, reclaimable %d; want 4 (2 layers, 2 cache mounts), 0 active, all reclaimable",
			du.BuildCacheRecords, du.BuildCacheActive, du.BuildCacheSize, du.BuildCacheReclaimable)
	}
	var types, ids []string
	var sum int64
	for _, en := range du.BuildCache {
		types = append(types, en.Type)
		ids = append(ids, en.ID)
		sum += en.Size
	}
	// Most recently used first.
	if diff := cmp.Diff([]string{"regular", "exec.cachemount", "exec.cachemount", "regular"}, types); diff != "" {
		t.Fatalf("df -v order by last use (-want +got):\n%s\n%v", diff, ids)
	}
	if sum != du.BuildCacheSize {
		t.Errorf("df -v sizes add up to %d, the Build Cache row says %d", sum, du.BuildCacheSize)
	}
	l2, m2, m1, l1 := du.BuildCache[0], du.BuildCache[1], du.BuildCache[2], du.BuildCache[3]
	// Layers count their uncompressed size, cache mounts their blocks.
	for id, size := range map[string]int64{"m1": 250000, "m2": 100000, l1.ID: 150000, l2.ID: 50000} {
		en, ok := cacheEntry(du, id)
		if !ok || !between(en.Size, size, size+16384) || en.InUse || en.Shared || en.UsageCount != 1 {
			t.Errorf("df -v entry %s = %+v; want size about %d, unused, used once", id, en, size)
		}
	}

	// Room for the two most recently used, L2 and m2.
	rep, err := e.PruneBuildCache(ctx, engine.BuilderPruneOptions{KeepStorage: l2.Size + m2.Size + 4096})
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, en := range rep.Removed {
		removed = append(removed, en.ID)
	}
	if diff := cmp.Diff([]string{l1.ID, "m1"}, removed); diff != "" {
		t.Errorf("--keep-storage removed (-want +got):\n%s", diff)
	}
	if freed := l1.Size + m1.Size; rep.Records != 2 || !reclaimed(e, rep.Reclaimed, freed) {
		t.Errorf("report: %d objects, %d bytes reclaimed; want 2, about %d", rep.Records, rep.Reclaimed, freed)
	}
	if exists(filepath.Join(mounts, "m1")) || exists(filepath.Join(mounts, "m1.lock")) || !exists(filepath.Join(mounts, "m2", "f")) {
		t.Errorf("after --keep-storage: m1 left %v/%v, m2 kept %v; want m1 and its lock gone, m2 kept",
			exists(filepath.Join(mounts, "m1")), exists(filepath.Join(mounts, "m1.lock")), exists(filepath.Join(mounts, "m2", "f")))
	}
	du = withoutEmptyLayers(diskUsage(t, e))
	if du.BuildCacheRecords != 2 || du.BuildCacheSize != l2.Size+m2.Size {
		t.Errorf("df after --keep-storage: %d entries, %d bytes; want 2, %d", du.BuildCacheRecords, du.BuildCacheSize, l2.Size+m2.Size)
	}

	// Plain prune: everything nothing uses, however recent; then the
	// cache mount dir itself goes.
	if _, out := mustBuild(t, e, engine.BuildOptions{Context: writeContext(t, map[string]string{"Dockerfile": l2df}), Tags: []string{"p:3"}}); !strings.Contains(out, "CACHED") {
		t.Errorf("L2 was pruned:\n%s", out)
	}
	if _, err := e.RemoveImage(ctx, "p:3", false); err != nil {
		t.Fatal(err)
	}
	rep, err = e.PruneBuildCache(ctx, engine.BuilderPruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if freed := l2.Size + m2.Size; rep.Records != 3 || !reclaimed(e, rep.Reclaimed, freed) {
		t.Errorf("prune: %d objects, %d bytes; want L2, m2 and p:2's empty layer, about %d", rep.Records, rep.Reclaimed, freed)
	}
	if du = diskUsage(t, e); du.BuildCacheRecords != 0 || du.BuildCacheSize != 0 {
		t.Errorf("df after prune: %d entries, %d bytes; want none", du.BuildCacheRecords, du.BuildCacheSize)
	}
	if exists(mounts) {
		t.Errorf("prune left %s", mounts)
	}
}

// TestBuilderPruneSkipsCacheMountInUse: a prune, --all or not, removes no
// cache mount a running build holds, and system df says it is in use.
func TestBuilderPruneSkipsCacheMountInUse(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	mounts := filepath.Join(e.Root(), "build-cache-mounts")
	buildUntagged(t, e, "idle:1", "FROM busybox\nRUN --mount=type=cache,id=idle,target=/c head -c 20000 /dev/urandom > /c/f\n")

	// The RUN marks the cache (the mark is written whole, then renamed: the
	// test waits for its name), waits for the test's go-ahead, and copies
	// the mark out: a prune that took the mount away would break it. It
	// gives up after 30s, so that a failed test leaves no container.
	df := "FROM busybox\nRUN --mount=type=cache,id=busy,target=/c head -c 30000 /dev/urandom > /c/mark.new && mv /c/mark.new /c/mark && i=0 && " +
		"while [ ! -e /c/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done && " +
		"md5sum < /c/mark > /sum && md5sum < /c/mark > /c/sum\n"
	built := make(chan error, 1)
	go func() {
		_, out, err := doBuild(t, e, engine.BuildOptions{Context: writeContext(t, map[string]string{"Dockerfile": df}), Tags: []string{"busy:1"}})
		if err != nil {
			err = errors.New(err.Error() + "\n" + out)
		}
		built <- err
	}()
	release := func() { os.WriteFile(filepath.Join(mounts, "busy", "go"), nil, 0o644) }
	defer func() {
		release()
		select { // a failed test still waits for its build, which ends within 30s
		case <-built:
		case <-time.After(time.Minute):
		}
	}()
	testutil.WaitFor(t, "the RUN to start", func() bool { return exists(filepath.Join(mounts, "busy", "mark")) })

	du := diskUsage(t, e)
	busy, ok := cacheEntry(du, "busy")
	if !ok || !busy.InUse || du.BuildCacheActive != 1 || du.BuildCacheReclaimable != du.BuildCacheSize-busy.Size || busy.Size < 30000 {
		t.Errorf("df while the build runs: busy %+v, active %d, size %d, reclaimable %d; want busy in use and not reclaimable",
			busy, du.BuildCacheActive, du.BuildCacheSize, du.BuildCacheReclaimable)
	}

	type result struct {
		rep engine.BuilderPruneReport
		err error
	}
	pruned := make(chan result, 1)
	go func() {
		rep, err := e.PruneBuildCache(ctx, engine.BuilderPruneOptions{All: true})
		pruned <- result{rep, err}
	}()
	// The cache mounts go at once; the layers' collection waits for the
	// build (the gc lock).
	testutil.WaitFor(t, "the idle mount to go", func() bool { return !exists(filepath.Join(mounts, "idle")) })
	if !exists(filepath.Join(mounts, "busy", "mark")) {
		t.Fatal("prune removed the cache mount a build holds")
	}
	release()
	if err := <-built; err != nil {
		built <- nil // for the deferred wait
		t.Fatal(err)
	}
	built <- nil
	r := <-pruned
	if r.err != nil {
		t.Fatal(r.err)
	}
	var removed []string
	for _, en := range r.rep.Removed {
		if en.Type == engine.CacheTypeMount {
			removed = append(removed, en.ID)
		}
	}
	if diff := cmp.Diff([]string{"idle"}, removed); diff != "" {
		t.Errorf("cache mounts removed (-want +got):\n%s", diff)
	}
	sum, err := os.ReadFile(filepath.Join(mounts, "busy", "sum"))
	if err != nil {
		t.Fatal(err)
	}
	if got := imageFiles(t, e, "busy:1")["sum"]; got != "file 644 0:0 "+string(sum) {
		t.Errorf("the RUN saw %q, the cache holds %q", got, sum)
	}
	if busy, ok := cacheEntry(diskUsage(t, e), "busy"); !ok || busy.InUse || busy.UsageCount != 1 {
		t.Errorf("df after the build: busy %+v, %v; want it listed, not in use, used once", busy, ok)
	}
}

// TestBuilderPruneAfterCrash: what a prune or build killed half-way
// leaves (a renamed tree and the record of its gone directory, a cache
// dir half made) is not counted as a cache mount, is never mounted, and
// the next prune removes it.
func TestBuilderPruneAfterCrash(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	mounts := filepath.Join(e.Root(), "build-cache-mounts")
	buildUntagged(t, e, "cr:1", "FROM busybox\nRUN --mount=type=cache,id=crash,target=/c echo old > /c/f\n")
	// A prune killed after its rename (lock file and record still there),
	// and a build killed while it made a cache dir.
	if err := os.Mkdir(filepath.Join(mounts, ".del-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mounts, "crash"), filepath.Join(mounts, ".del-1", "crash")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(mounts, ".new-2", "half"), 0o700); err != nil {
		t.Fatal(err)
	}
	if du := withoutEmptyLayers(diskUsage(t, e)); du.BuildCacheRecords != 0 || du.BuildCacheSize != 0 {
		t.Errorf("df counts %d entries, %d bytes; want none but the RUN's empty layer (the record's directory is gone)", du.BuildCacheRecords, du.BuildCacheSize)
	}
	if _, err := e.PruneBuildCache(ctx, engine.BuilderPruneOptions{}); err != nil {
		t.Fatal(err)
	}
	recs, err := (&cache.Store{DB: e.DB}).Mounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 || exists(mounts) {
		t.Errorf("after prune: records %v, %s exists %v; want none, and the dir gone", recs, mounts, exists(mounts))
	}
	// The same id starts empty.
	mustBuild(t, e, engine.BuildOptions{Context: writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=cache,id=crash,target=/c ls -A /c > /ls\n"}), Tags: []string{"cr:2"}})
	if got := imageFiles(t, e, "cr:2")["ls"]; got != "file 644 0:0 " {
		t.Errorf("the cache mount after the crash holds %q, want nothing", got)
	}
}

// withoutEmptyLayers leaves out of du the empty layers (an empty tar, 1 KiB)
// of the RUNs that wrote only into their cache mounts: BuildKit's RUN makes
// a layer whatever it changed, and these tests count the others.
func withoutEmptyLayers(du engine.DiskUsage) engine.DiskUsage {
	var kept []engine.BuildCacheEntry
	for _, en := range du.BuildCache {
		if en.Type == "regular" && en.Size <= 1024 {
			du.BuildCacheRecords--
			du.BuildCacheSize -= en.Size
			if !en.InUse {
				du.BuildCacheReclaimable -= en.Size
			} else {
				du.BuildCacheActive--
			}
			continue
		}
		kept = append(kept, en)
	}
	du.BuildCache = kept
	return du
}
