package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/strata-project/strata/internal/engine"
	"github.com/strata-project/strata/internal/manifest"
	"github.com/strata-project/strata/internal/progress"
	"github.com/strata-project/strata/internal/registry"
	"github.com/strata-project/strata/internal/remote"
	"github.com/strata-project/strata/internal/snapshot"
	"github.com/strata-project/strata/internal/testutil"
)

func gzipLayer(t *testing.T, tb *testutil.Tar) ([]byte, digest.Digest) {
	t.Helper()
	raw := tb.Bytes()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes(), digest.FromBytes(raw)
}

// stagingLayers are gzipped layers using whiteouts, an opaque directory
// and a path through a lower layer's symlink (which cannot be unpacked
// before its parent and so goes the serial way).
func stagingLayers(t *testing.T) ([][]byte, []digest.Digest) {
	base, baseID := gzipLayer(t, testutil.NewTar().
		Dir("usr", 0o755).Dir("usr/lib", 0o755).File("usr/lib/a", []byte("a"), 0o644).
		Symlink("lib", "usr/lib").
		Dir("etc", 0o755).File("etc/gone", []byte("gone"), 0o644).File("etc/keep", []byte("keep"), 0o600).
		Dir("var", 0o755).Dir("var/cache", 0o755).File("var/cache/old", []byte("old"), 0o644))
	// No "lib" entry: lib/b lands in usr/lib through the base's symlink.
	mid, midID := gzipLayer(t, testutil.NewTar().File("lib/b", []byte("b"), 0o644))
	top, topID := gzipLayer(t, testutil.NewTar().
		Dir("etc", 0o755).Whiteout("etc/gone").File("etc/new", []byte("new"), 0o644).
		Dir("var", 0o755).Dir("var/cache", 0o700).Opaque("var/cache").File("var/cache/fresh", []byte("fresh"), 0o644).
		Whiteout("usr"))
	again, againID := gzipLayer(t, testutil.NewTar().Dir("usr", 0o755).File("usr/only", []byte("only"), 0o644))
	return [][]byte{base, mid, top, again}, []digest.Digest{baseID, midID, topID, againID}
}

// stagingCheck checks the files of an image of stagingLayers.
func stagingCheck(t *testing.T, files map[string]string) {
	t.Helper()
	for _, p := range []string{"lib", "etc/keep", "etc/new", "var/cache/fresh", "usr/only"} {
		if _, ok := files[p]; !ok {
			t.Errorf("missing %s: %v", p, files)
		}
	}
	for _, p := range []string{"etc/gone", "var/cache/old", "usr/lib", "usr/lib/a", "usr/lib/b"} {
		if _, ok := files[p]; ok {
			t.Errorf("%s should be gone: %v", p, files)
		}
	}
}

// TestPullStagedMatchesNative pulls an image whose layers use whiteouts,
// an opaque directory and a path through a lower layer's symlink (which
// cannot be unpacked before its parent and so goes the serial way) on
// overlay, where layers unpack into their own snapshots at once, and on
// native, where each unpacks onto a copy of its parent: both must show
// the same files.
func TestPullStagedMatchesNative(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	ref, client := stagingImage(t)

	got := map[string]map[string]string{}
	for _, driver := range []string{"overlay", "native"} {
		e, err := engine.Open(ctx, engine.Options{Root: t.TempDir(), StorageDriver: driver})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		var log rtLog
		if _, err := e.Pull(ctx, ref, engine.PullOptions{Client: client, Progress: log.report}); err != nil {
			t.Fatalf("%s: %v", driver, err)
		}
		if n := log.count(": Pull complete"); n != 4 {
			t.Errorf("%s: %d layers said Pull complete, want 4:\n%s", driver, n, log.String())
		}
		got[driver] = rtFiles(t, e, ref)
	}
	if diff := cmp.Diff(got["native"], got["overlay"]); diff != "" {
		t.Errorf("overlay (staged) differs from native (-native +overlay):\n%s", diff)
	}
	stagingCheck(t, got["overlay"])
}

// TestLoadStagedMatchesNative loads a saved image of stagingLayers from a
// file on overlay (layers staged at once) and native: same files.
func TestLoadStagedMatchesNative(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	ref, client := stagingImage(t)
	src := openEngine(t)
	if _, err := src.Pull(ctx, ref, engine.PullOptions{Client: client}); err != nil {
		t.Fatal(err)
	}
	input := writeTemp(t, save(t, src, ref))
	got := map[string]map[string]string{}
	for _, driver := range []string{"overlay", "native"} {
		e, err := engine.Open(ctx, engine.Options{Root: t.TempDir(), StorageDriver: driver})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		if _, err := e.Load(ctx, engine.LoadOptions{Input: input}); err != nil {
			t.Fatalf("%s: %v", driver, err)
		}
		got[driver] = rtFiles(t, e, ref)
		var active []string
		_ = e.Snap.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
			if info.Kind != snapshot.KindCommitted {
				active = append(active, info.Name)
			}
			return nil
		})
		if len(active) > 0 {
			t.Errorf("%s: snapshots left active: %v", driver, active)
		}
	}
	if diff := cmp.Diff(got["native"], got["overlay"]); diff != "" {
		t.Errorf("overlay (staged) differs from native (-native +overlay):\n%s", diff)
	}
	stagingCheck(t, got["overlay"])
}

// TestLoadProgress: a Loading layer event per layer counting its bytes to
// the end, and Already exists for a layer the store has.
func TestLoadProgress(t *testing.T) {
	ctx := context.Background()
	src := openEngine(t)
	busyboxImage(t, src, "busybox:latest", nil)
	input := writeTemp(t, save(t, src, "busybox"))
	dst := openEngine(t)
	var mu = make(chan struct{}, 1)
	var events []progress.Event
	rep := func(ev progress.Event) {
		mu <- struct{}{}
		events = append(events, ev)
		<-mu
	}
	if _, err := dst.Load(ctx, engine.LoadOptions{Input: input, Progress: rep}); err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no progress")
	}
	last := events[len(events)-1]
	if last.Action != "Loading layer" || last.Total <= 0 || last.Current != last.Total {
		t.Errorf("last event %+v, want Loading layer with every byte counted", last)
	}
	if l := progress.Line(last); !strings.Contains(l, "[====") || !strings.HasSuffix(l, progress.HumanSize(last.Total)+"/"+progress.HumanSize(last.Total)) {
		t.Errorf("line %q has no full bar", l)
	}
	events = nil
	if _, err := dst.Load(ctx, engine.LoadOptions{Input: input, Progress: rep}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != "Already exists" || events[0].ID != last.ID {
		t.Errorf("second load: %+v, want one Already exists for %s", events, last.ID)
	}
}

// stagingImage pushes an image of stagingLayers to a registry of its own
// and returns its reference and a client for it.
func stagingImage(t *testing.T) (string, *remote.Client) {
	t.Helper()
	host := rtRegistry(t, registry.Options{}, nil)
	client := rtClient(t.TempDir())
	layers, diffIDs := stagingLayers(t)
	ref := host + "/stage/app:1"
	rtPushSynthetic(t, client, ref, layers, diffIDs, manifest.Platform())
	return ref, client
}
