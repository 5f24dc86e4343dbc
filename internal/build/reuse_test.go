package build_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/config"
	"github.com/strata-project/strata/internal/engine"
)

// A COPY rerun after one file of the context changed links the unchanged
// files from the layer it made last time (reuse.go). The result must be
// exactly what a full copy gives, and the old layer must stay intact when
// a later RUN changes a linked file.
func TestCopyReusesUnchangedFiles(t *testing.T) {
	// The link counts below tell reused files from written ones; the
	// store's file pool would link every file (config.DedupeEnv).
	t.Setenv(config.DedupeEnv, "0")
	e := newEngine(t)
	if e.Driver() != "overlay" {
		t.Skip("skipping: files are reused only on the overlay snapshotter")
	}
	ctx := context.Background()
	files := map[string]string{
		// /app/ctx is new, so its files are linked straight into the
		// upper dir; /opt/old is in the base, so its file goes through a
		// placeholder.
		"Dockerfile": "FROM busybox\nCOPY --chmod=640 ctx/ /app/ctx/\nCOPY ctx/d1/f1 ctx/empty /opt/old/\n" +
			"RUN echo more >> /app/ctx/d0/f0 && echo more >> /opt/old/f1 && cat /app/ctx/d0/f0 > /copied\n",
		"ctx/empty": "",
	}
	for d := 0; d < 3; d++ {
		for f := 0; f < 5; f++ {
			files[fmt.Sprintf("ctx/d%d/f%d", d, f)] = strings.Repeat(fmt.Sprintf("%d%d", d, f), 100+1000*f)
		}
	}
	dir := writeContext(t, files)
	epoch := time.Unix(1700000000, 0).UTC()
	opts := func(tag string) engine.BuildOptions {
		return engine.BuildOptions{Context: dir, Tags: []string{tag}, SourceDateEpoch: &epoch, Progress: io.Discard}
	}
	mustBuild(t, e, opts("reuse:1"))

	// Change one file's content and another's mtime only (its old copy no
	// longer matches, so it is written, not linked).
	edit := filepath.Join(dir, "ctx/d1/f2")
	if err := os.WriteFile(edit, []byte(strings.Repeat("changed", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, p := range []string{"ctx/d2/f3", "ctx/d1/f1"} {
		if err := os.Chtimes(filepath.Join(dir, p), later, later); err != nil {
			t.Fatal(err)
		}
	}
	mustBuild(t, e, opts("reuse:2"))

	img, err := e.ResolveImage(ctx, "reuse:2")
	if err != nil {
		t.Fatal(err)
	}
	chains := img.ChainIDs()
	n := len(chains)
	nlinks := func(layer int, p string) (uint64, unix.Timespec) {
		t.Helper()
		upper, err := e.Snap.UpperDir(ctx, chains[layer].String())
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(upper, p), &st); err != nil {
			t.Fatal(err)
		}
		return uint64(st.Nlink), st.Mtim
	}
	for _, tt := range []struct {
		layer  int
		path   string
		linked bool
	}{
		{n - 3, "app/ctx/d0/f0", true},
		{n - 3, "app/ctx/d2/f4", true},
		{n - 3, "app/ctx/d1/f2", false}, // changed
		{n - 3, "app/ctx/d2/f3", false}, // touched
		{n - 3, "app/ctx/empty", false}, // empty files are not worth it
		{n - 2, "opt/old/f1", false},    // touched
		{n - 2, "opt/old/empty", false},
	} {
		got, _ := nlinks(tt.layer, tt.path)
		if (got > 1) != tt.linked {
			t.Errorf("%s has %d links, want linked=%v", tt.path, got, tt.linked)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "ctx/d2/f3"), &st); err != nil {
		t.Fatal(err)
	}
	if _, mtime := nlinks(n-3, "app/ctx/d2/f3"); mtime != st.Mtim {
		t.Errorf("rewritten file has mtime %v, want the source's %v", mtime, st.Mtim)
	}
	// Linking into a directory moves its mtime; it is set back.
	if err := unix.Stat(filepath.Join(dir, "ctx/d0"), &st); err != nil {
		t.Fatal(err)
	}
	if _, mtime := nlinks(n-3, "app/ctx/d0"); mtime != st.Mtim {
		t.Errorf("directory of linked files has mtime %v, want the source's %v", mtime, st.Mtim)
	}

	// A third build with only the content edit links through a placeholder too.
	if err := os.WriteFile(edit, []byte(strings.Repeat("again", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	res3, _ := mustBuild(t, e, opts("reuse:3"))
	img3, err := e.ResolveImage(ctx, "reuse:3")
	if err != nil {
		t.Fatal(err)
	}
	chains = img3.ChainIDs()
	if got, _ := nlinks(n-2, "opt/old/f1"); got < 2 {
		t.Errorf("opt/old/f1 (through a placeholder) has %d links, want it linked", got)
	}

	// The same context built from scratch, with every file written by
	// the overlay, gives the same image; so does --no-cache, which links
	// nothing but writes straight into the upper dir.
	build.DisableReuse(t)
	ref, _ := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"overlay:3"}, SourceDateEpoch: &epoch, NoCache: true})
	if ref.Manifest.Digest != res3.Manifest.Digest {
		t.Errorf("after reuse: manifest %s; written through the overlay: %s", res3.Manifest.Digest, ref.Manifest.Digest)
	}
	want := imageFiles(t, e, "overlay:3")
	if d := cmp.Diff(want, imageFiles(t, e, "reuse:3")); d != "" {
		t.Errorf("files after reuse (-overlay +reused):\n%s", d)
	}
	build.EnableReuse()
	fresh, _ := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"fresh:3"}, SourceDateEpoch: &epoch, NoCache: true})
	if fresh.Manifest.Digest != ref.Manifest.Digest {
		t.Errorf("--no-cache: manifest %s; written through the overlay: %s", fresh.Manifest.Digest, ref.Manifest.Digest)
	}

	// Without SOURCE_DATE_EPOCH the copied entries keep their sources'
	// mtimes, through links and direct writes alike.
	if err := os.WriteFile(edit, []byte(strings.Repeat("more", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"reuse:4"}})
	build.DisableReuse(t)
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"overlay:4"}, NoCache: true})
	build.EnableReuse()
	if d := cmp.Diff(copiedHeaders(t, e, "overlay:4"), copiedHeaders(t, e, "reuse:4")); d != "" {
		t.Errorf("copied entries (-overlay +reused):\n%s", d)
	}

	// The RUN appended to linked files through copy-up: every layer of
	// every build still rebuilds to its diffID (OpenLayer verifies it).
	for _, ref := range []string{"reuse:1", "reuse:2", "reuse:3", "overlay:3", "fresh:3"} {
		img, err := e.ResolveImage(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range img.Manifest.Layers {
			rc, err := e.OpenLayer(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, rc)
			if cerr := rc.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Errorf("%s layer %d: %v", ref, i, err)
			}
		}
	}
	rep, err := e.Fsck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Errorf("fsck: %v", rep.Problems)
	}
}

// copiedHeaders describes the tar entries of the two COPY layers of the
// test's image that come from the context (not the parent dirs the copy
// touched, whose mtimes are the time of the build).
func copiedHeaders(t *testing.T, e *engine.Engine, ref string) []string {
	t.Helper()
	ctx := context.Background()
	img, err := e.ResolveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	n := len(img.Manifest.Layers)
	var out []string
	for _, l := range img.Manifest.Layers[n-3 : n-1] {
		rc, err := e.OpenLayer(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(h.Name, "app/ctx/") || (strings.HasPrefix(h.Name, "opt/old/") && h.Name != "opt/old/") {
				out = append(out, fmt.Sprintf("%s %c %o %d:%d %d %s", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.UTC().Format(time.RFC3339)))
			}
		}
		rc.Close()
	}
	return out
}
