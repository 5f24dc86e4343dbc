package build_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-project/strata/internal/build"
	"github.com/strata-project/strata/internal/engine"
)

// What TestSameAsDocker cannot ask docker 20.10 for: Dockerfiles that need
// a "# syntax=" frontend (here-documents), which docker would pull, and
// what a docker export hides (its own /etc/hosts and resolv.conf).

// TestHeredocShebang: a RUN here-document starting with "#!" runs as a
// file through its own interpreter, as BuildKit's; one without runs in
// the shell (issue 19, item 2). The file is a mount under /dev/pipes, in
// no layer.
func TestHeredocShebang(t *testing.T) {
	e := newEngine(t)
	df := "# syntax=docker/dockerfile:1\nFROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho \"$0\" > /script-name\nEOF\nRUN <<EOF\necho \"$0\" > /shell-name\nEOF\nRUN <<-EOT\n\t#!/bin/busybox sh\n\techo chomped > /chomped\n\tEOT\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"shebang:1"}})
	files := imageFiles(t, e, "shebang:1")
	got := pick(files, "script-name", "shell-name", "chomped")
	want := map[string]string{
		"script-name": "file 644 0:0 /dev/pipes/EOF\n",
		"shell-name":  "file 644 0:0 /bin/sh\n",
		"chomped":     "file 644 0:0 chomped\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for p := range files {
		if strings.HasPrefix(p, "dev/pipes") {
			t.Errorf("the script's mount point %s is in the image", p)
		}
	}
	var rows []string
	for _, h := range imageConfig(t, e, "shebang:1").History {
		if h.Comment == build.CacheComment {
			rows = append(rows, h.CreatedBy)
		}
	}
	wantRows := []string{"RUN /bin/sh -c /dev/pipes/EOF # buildkit", "RUN /bin/sh -c echo \"$0\" > /shell-name\n # buildkit", "RUN /bin/sh -c /dev/pipes/EOT # buildkit"}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// The script is in the step's cache key: another body runs again.
	dir2 := writeContext(t, map[string]string{"Dockerfile": strings.Replace(df, "-e\necho", "-e\necho changed", 1)})
	mustBuild(t, e, engine.BuildOptions{Context: dir2, Tags: []string{"shebang:2"}})
	if got := imageFiles(t, e, "shebang:2")["script-name"]; !strings.Contains(got, "changed") {
		t.Errorf("a changed script was taken from the cache: script-name %q", got)
	}
}

// TestSyntaxFrontendHistory: with a "# syntax=" line docker runs the
// current frontend, whose history texts differ from docker 20.10's
// built-in one (issue 19, item 9): EXPOSE lists the ports as declared,
// COPY shows --chown and --chmod, HEALTHCHECK prints its fields, and an
// ARG declared twice is listed once in a RUN's row. ARG rows still never
// show a --build-arg value (a difference left on purpose: it may be a
// secret).
func TestSyntaxFrontendHistory(t *testing.T) {
	e := newEngine(t)
	df := "# syntax=docker/dockerfile:1.7\nFROM busybox\nARG V=1\nARG V\nEXPOSE 8080 53/udp\nCOPY --chown=app --chmod=640 a /a\nHEALTHCHECK --interval=5s CMD true\nRUN true\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df, "a": "A"})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"syntax:1"}, BuildArgs: map[string]string{"V": "secret"}})
	var rows []string
	for _, h := range imageConfig(t, e, "syntax:1").History {
		if h.Comment == build.CacheComment {
			rows = append(rows, h.CreatedBy)
		}
	}
	want := []string{
		"ARG V=1", "ARG V", "EXPOSE [8080/tcp 53/udp]", "COPY --chown=app --chmod=640 a /a # buildkit",
		"HEALTHCHECK {Test:[CMD-SHELL true] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}",
		"RUN |1 V=secret /bin/sh -c true # buildkit",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestRunSandboxFiles: a RUN sees BuildKit's /etc/hosts and the host's
// resolv.conf on a base that has neither, and neither lands in its layer
// (issue 19, item 4): docker export adds its own, so TestSameAsDocker
// cannot see this.
func TestRunSandboxFiles(t *testing.T) {
	e := newEngine(t)
	if _, ok := imageFiles(t, e, "busybox:latest")["etc/hosts"]; ok {
		t.Fatal("the test base has an /etc/hosts")
	}
	df := "FROM busybox\nRUN grep \"^127.0.0.1.localhost buildkitsandbox$\" /etc/hosts > /gh && hostname > /hn && test -f /etc/resolv.conf\nRUN true\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"sandbox:1"}})
	files := imageFiles(t, e, "sandbox:1")
	for _, p := range []string{"etc/hosts", "etc/resolv.conf", "etc/hostname"} {
		if v, ok := files[p]; ok {
			t.Errorf("%s is in the image: %s", p, v)
		}
	}
	if got := files["hn"]; got != "file 644 0:0 buildkitsandbox\n" {
		t.Errorf("hostname: %q, want buildkitsandbox", got)
	}
	if got := files["gh"]; got != "file 644 0:0 127.0.0.1\tlocalhost buildkitsandbox\n" {
		t.Errorf("/etc/hosts in the RUN: %q", got)
	}
	if names := layerEntries(t, e, "sandbox:1", -1); len(names) != 0 {
		t.Errorf("RUN true's layer has %v, want it empty", names)
	}
}

// TestWorkdirRootNoStep: WORKDIR / makes no directory and so, as in
// BuildKit, no step and no layer; the step count leaves it out.
func TestWorkdirRootNoStep(t *testing.T) {
	e := newEngine(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nWORKDIR /\nRUN true\n"})
	_, out := mustBuild(t, e, engine.BuildOptions{Context: dir, Tags: []string{"wdroot:1"}})
	if !strings.Contains(out, "[2/2] RUN true") {
		t.Errorf("progress does not number RUN as the last of 2 steps:\n%s", out)
	}
	h := imageConfig(t, e, "wdroot:1").History
	if last := h[len(h)-2]; last.CreatedBy != "WORKDIR /" || !last.EmptyLayer {
		t.Errorf("WORKDIR / row: %q empty_layer %v, want an empty row", last.CreatedBy, last.EmptyLayer)
	}
}
