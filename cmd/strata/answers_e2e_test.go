package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// TestDiffImageWithoutEtc: a container of an image with no /etc that
// changed nothing has an empty diff, as docker's (whose init layer holds
// the /etc runc's mount points need); it showed "A /etc". What the
// container does write there still shows.
func TestDiffImageWithoutEtc(t *testing.T) {
	root := containerRoot(t)
	rootfs := filepath.Join(t.TempDir(), "noetc")
	testutil.BusyboxRootfs(t, rootfs)
	if err := os.RemoveAll(filepath.Join(rootfs, "etc")); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "import", rootfs, "noetc")
	mustStrata(t, root, "run", "--name", "quiet", "noetc", "/bin/true")
	if got := mustStrata(t, root, "diff", "quiet"); got != "" {
		t.Errorf("diff of a container that changed nothing:\n%s", got)
	}
	mustStrata(t, root, "run", "--name", "wrote", "noetc", "/bin/touch", "/etc/mine")
	if got := mustStrata(t, root, "diff", "wrote"); got != "A /etc\nA /etc/mine\n" {
		t.Errorf("diff of a container that wrote /etc/mine: %q", got)
	}
}

// TestRepoDigests: an image built or imported here has no RepoDigests (nor
// a digest in images --digests) until it is pushed or pulled, as docker's;
// they were filled for every name.
func TestRepoDigests(t *testing.T) {
	root, _ := busyboxStore(t)
	mustStrata(t, root, "tag", "busybox", "local")
	mustStrata(t, root, "rmi", "busybox")
	if got := mustStrata(t, root, "inspect", "--format", "{{json .RepoDigests}}", "local"); got != "[]\n" {
		t.Errorf("RepoDigests of a never-pushed image = %s", got)
	}
	if got := mustStrata(t, root, "images", "--format", "{{.Digest}}", "local"); got != "<none>\n" {
		t.Errorf("images --digests of a never-pushed image = %q", got)
	}
	reg := startRegistry(t)
	mustStrata(t, root, "tag", "local", reg+"/x/app:1")
	if got := mustStrata(t, root, "inspect", "--format", "{{json .RepoDigests}}", "local"); got != "[]\n" {
		t.Errorf("RepoDigests after a tag = %s", got)
	}
	dgst := strings.TrimSpace(mustStrata(t, root, "push", reg+"/x/app:1"))
	if !strings.HasPrefix(dgst, "sha256:") {
		t.Fatalf("push printed %q, want the digest", dgst)
	}
	want := reg + "/x/app@" + dgst
	if got := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{json .RepoDigests}}", "local")); got != `["`+want+`"]` {
		t.Errorf("RepoDigests after push = %s, want [%s]", got, want)
	}
	if got := mustStrata(t, root, "images", "--format", "{{.Repository}} {{.Digest}}", reg+"/x/app"); got != reg+"/x/app "+dgst+"\n" {
		t.Errorf("images --digests after push = %q", got)
	}
	// Pulled into a fresh store: the pulled repository's digest.
	other := t.TempDir()
	mustStrata(t, other, "pull", "-q", reg+"/x/app:1")
	if got := strings.TrimSpace(mustStrata(t, other, "inspect", "--format", "{{json .RepoDigests}}", reg+"/x/app:1")); got != `["`+want+`"]` {
		t.Errorf("RepoDigests after pull = %s, want [%s]", got, want)
	}
}

// TestInspectConfigFields: strata inspect shows every config field docker
// shows, the docker-only ones too (Healthcheck, OnBuild, Shell were dropped
// although the image config held them).
func TestInspectConfigFields(t *testing.T) {
	root, ctx := busyboxStore(t)
	writeDockerfile(t, ctx, "FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nONBUILD RUN echo hi\nHEALTHCHECK --interval=7s --retries=4 CMD [\"true\"]\nSTOPSIGNAL SIGINT\n")
	mustStrata(t, root, "build", "-q", "-t", "fields:1", ctx)
	got := mustStrata(t, root, "inspect", "--format", "{{json .Config.Healthcheck}} {{json .Config.OnBuild}} {{json .Config.Shell}} {{.Config.StopSignal}}", "fields:1")
	// (--format reads the JSON names, so json prints the keys sorted)
	want := `{"Interval":7000000000,"Retries":4,"Test":["CMD","true"]} ["RUN echo hi"] ["/bin/sh","-ec"] SIGINT` + "\n"
	if got != want {
		t.Errorf("inspect's config fields:\n got %s\nwant %s", got, want)
	}
}
