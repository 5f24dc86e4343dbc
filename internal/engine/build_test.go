package engine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-project/strata/internal/engine"
)

// TestBuildInputs covers what the engine adds around the builder: -f, the
// context checks, .dockerignore, tags and the gc roots of the cache.
func TestBuildInputs(t *testing.T) {
	e := openEngine(t)
	busyboxImage(t, e, "busybox:latest", nil)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docker/Build.file", "FROM busybox\nCOPY . /ctx/\nRUN ls /ctx > /list\n")
	write("keep", "k")
	write("drop.log", "d")
	write(".dockerignore", "*.log\n")

	var progress bytes.Buffer
	res, err := e.Build(ctx, engine.BuildOptions{Context: dir, Dockerfile: filepath.Join(dir, "docker/Build.file"),
		Tags: []string{"in:1", "in:2"}, Progress: &progress})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	if len(res.Tags) != 2 || !strings.HasSuffix(res.Tags[0], "in:1") {
		t.Errorf("tags %v", res.Tags)
	}
	for _, ref := range []string{"in:1", "in:2"} {
		img, err := e.Images.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if img.ID() != res.ID {
			t.Errorf("%s is %s, want %s", ref, img.ID(), res.ID)
		}
	}
	list := imageTree(t, e, "in:1")
	if _, ok := list["ctx/drop.log"]; ok {
		t.Error(".dockerignore not applied: ctx/drop.log was copied")
	}
	if _, ok := list["ctx/keep"]; !ok {
		t.Error("ctx/keep missing")
	}

	// The cache's layers survive gc while no image names them.
	for _, ref := range []string{"in:1", "in:2"} {
		if _, err := e.RemoveImage(ctx, ref, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.GC(ctx, engine.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	progress.Reset()
	if _, err := e.Build(ctx, engine.BuildOptions{Context: dir, Dockerfile: filepath.Join(dir, "docker/Build.file"), Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(progress.String(), "CACHED"); n != 2 {
		t.Errorf("after gc: %d CACHED steps, want 2:\n%s", n, progress.String())
	}

	for _, tt := range []struct {
		name string
		opts engine.BuildOptions
		want string
	}{
		{"no context", engine.BuildOptions{}, "no context given"},
		{"context is a file", engine.BuildOptions{Context: filepath.Join(dir, "keep")}, "is not a directory"},
		{"missing dockerfile", engine.BuildOptions{Context: dir}, "read Dockerfile"},
		{"bad tag", engine.BuildOptions{Context: dir, Tags: []string{"UPPER:case"}}, "UPPER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Build(ctx, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestInspectDockerFields: inspect shows the config fields docker keeps
// beside the OCI ones (issue 19, item 10), as docker inspect does.
func TestInspectDockerFields(t *testing.T) {
	e := openEngine(t)
	busyboxImage(t, e, "busybox:latest", nil)
	ctx := context.Background()
	dir := t.TempDir()
	df := "FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nONBUILD RUN echo hi\nHEALTHCHECK --interval=7s --retries=4 CMD [\"true\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Build(ctx, engine.BuildOptions{Context: dir, Tags: []string{"fields:1"}}); err != nil {
		t.Fatal(err)
	}
	ins, err := e.InspectImage(ctx, "fields:1")
	if err != nil {
		t.Fatal(err)
	}
	c := ins.Config
	if strings.Join(c.Shell, " ") != "/bin/sh -ec" || strings.Join(c.OnBuild, "|") != "RUN echo hi" ||
		c.Healthcheck == nil || strings.Join(c.Healthcheck.Test, " ") != "CMD true" || c.Healthcheck.Retries != 4 || c.Healthcheck.Interval != 7*time.Second {
		t.Errorf("config = %+v (healthcheck %+v), want the Shell, OnBuild and Healthcheck the Dockerfile set", c, c.Healthcheck)
	}
}
