package build_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/engine"
)

// TestCopyLink: a COPY --link layer is made from its sources alone, so a
// changed RUN before it or a changed base image reuses it (CACHED, same
// diffID); the image's files and history are a plain COPY's.
func TestCopyLink(t *testing.T) {
	e := newEngine(t)
	big := strings.Repeat("0123456789", 20)
	dir := writeContext(t, map[string]string{
		"big/a.txt":     "a",
		"big/sub/b.bin": big,
		"big/sub/ln":    "->b.bin",
		"big/empty/":    "",
		"b/Dockerfile":  "FROM busybox\nRUN echo base-b > /b\n",
	})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: filepath.Join(dir, "b/Dockerfile"), Tags: []string{"base-b:1"}})
	df := func(from, run, flags string) string {
		p := filepath.Join(dir, "Dockerfile")
		if err := os.WriteFile(p, []byte("FROM "+from+"\nRUN echo "+run+" > /f\nCOPY "+flags+"big/ /big/\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	topDiff := func(ref string) string {
		ids := imageConfig(t, e, ref).RootFS.DiffIDs
		return ids[len(ids)-1].String()
	}
	linkCached := func(out string) bool {
		for _, l := range strings.Split(out, "\n") {
			if n, _, ok := strings.Cut(l, " "); ok && strings.HasSuffix(l, "COPY --link big/ /big/") {
				return strings.Contains(out, "\n"+n+" CACHED ")
			}
		}
		return false
	}

	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: df("busybox", "x", "--link "), Tags: []string{"l:1"}})
	if linkCached(out) {
		t.Fatalf("cold build has a CACHED COPY --link:\n%s", out)
	}
	first := topDiff("l:1")

	// The RUN before it changes: the COPY --link is reused.
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: df("busybox", "y", "--link "), Tags: []string{"l:2"}})
	if !linkCached(out) {
		t.Errorf("after changing the RUN, COPY --link is not CACHED:\n%s", out)
	}
	if got := topDiff("l:2"); got != first {
		t.Errorf("after changing the RUN, COPY --link layer %s, want the same %s", got, first)
	}
	if got := imageFiles(t, e, "l:2")["f"]; got != "file 644 0:0 y\n" {
		t.Errorf("/f = %q, want the new RUN's", got)
	}

	// The base image changes: reused too.
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: df("base-b:1", "y", "--link "), Tags: []string{"l:3"}})
	if !linkCached(out) {
		t.Errorf("after changing FROM, COPY --link is not CACHED:\n%s", out)
	}
	if got := topDiff("l:3"); got != first {
		t.Errorf("after changing FROM, COPY --link layer %s, want the same %s", got, first)
	}
	files := imageFiles(t, e, "l:3")
	if files["b"] != "file 644 0:0 base-b\n" || files["big/sub/b.bin"] == "" {
		t.Errorf("l:3 lacks the base's or the link's files: b=%q big/sub/b.bin=%q", files["b"], files["big/sub/b.bin"])
	}

	// On a store that pools files, the step's own snapshot (on the empty
	// tree) and both stacked copies hold the same files: one inode each.
	if e.Driver() == "overlay" {
		ino := func(chain, p string) uint64 {
			t.Helper()
			upper, err := e.Snap.UpperDir(context.Background(), chain)
			if err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(upper, p), &st); err != nil {
				t.Fatal(err)
			}
			return st.Ino
		}
		top := func(ref string) string {
			img, err := e.ResolveImage(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			chains := img.ChainIDs()
			return chains[len(chains)-1].String()
		}
		for _, p := range []string{"big/a.txt", "big/sub/b.bin"} {
			if own, on1, on3 := ino(first, p), ino(top("l:1"), p), ino(top("l:3"), p); own != on1 || own != on3 {
				t.Errorf("%s: inodes %d (the step's snapshot), %d (on busybox), %d (on base-b), want one", p, own, on1, on3)
			}
		}
	}

	// Same files and history as a plain COPY.
	mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: df("base-b:1", "y", ""), Tags: []string{"p:3"}})
	if diff := cmp.Diff(imageFiles(t, e, "p:3"), files); diff != "" {
		t.Errorf("COPY --link files differ from a plain COPY's (-plain +link):\n%s", diff)
	}
	hist := func(ref string) []string {
		var rows []string
		for _, h := range imageConfig(t, e, ref).History {
			rows = append(rows, h.CreatedBy)
		}
		return rows
	}
	if diff := cmp.Diff(hist("p:3"), hist("l:3")); diff != "" {
		t.Errorf("history differs from a plain COPY's (-plain +link):\n%s", diff)
	}
	if got, want := layerEntries(t, e, "l:3", -1), layerEntries(t, e, "p:3", -1); !slices.Equal(got, want) {
		t.Errorf("link layer entries %v, plain COPY's %v", got, want)
	}

	// With the cache pruned and gc run, the image's layer is still readable
	// (rebuilt from the image's own snapshot).
	if _, err := e.PruneBuildCache(context.Background(), engine.BuilderPruneOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GC(context.Background(), engine.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := layerEntries(t, e, "l:3", -1); len(got) == 0 {
		t.Errorf("l:3's link layer is empty after prune")
	}

	// A build that stores compressed blobs stacks the layer from its blob.
	mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: df("busybox", "z", "--link "), Tags: []string{"g:1"}, Compression: "gzip"})
	gz := topDiff("g:1")
	_, out = mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: df("base-b:1", "z", "--link "), Tags: []string{"g:2"}, Compression: "gzip"})
	if !linkCached(out) || topDiff("g:2") != gz {
		t.Errorf("gzip build on a new base: CACHED %v, layer %s want %s:\n%s", linkCached(out), topDiff("g:2"), gz, out)
	}
	plain, gzFiles := imageFiles(t, e, "p:3"), imageFiles(t, e, "g:2")
	delete(plain, "f") // the RUN's, which differs
	delete(gzFiles, "f")
	if diff := cmp.Diff(plain, gzFiles); diff != "" {
		t.Errorf("gzip COPY --link files differ from a plain COPY's:\n%s", diff)
	}

	// A --chown name is looked up on the empty tree, as BuildKit does: it
	// fails, saying why; a numeric one works.
	p := filepath.Join(dir, "Dockerfile")
	os.WriteFile(p, []byte("FROM busybox\nCOPY --link --chown=app big/a.txt /x/\n"), 0o644)
	if _, out, err := doBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: p}); err == nil || !strings.Contains(err.Error(), "numeric IDs") {
		t.Errorf("COPY --link --chown=app (a name): err %v, want one asking for numeric IDs:\n%s", err, out)
	}
	os.WriteFile(p, []byte("FROM busybox\nCOPY --link --chown=1000:50 big/a.txt /x/\n"), 0o644)
	mustBuild(t, e, engine.BuildOptions{Context: dir, Dockerfile: p, Tags: []string{"o:1"}})
	if got := imageFiles(t, e, "o:1")["x/a.txt"]; got != "file 644 1000:50 a" {
		t.Errorf("x/a.txt = %q, want owned by 1000:50", got)
	}
}
