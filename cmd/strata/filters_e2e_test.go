package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// imageNames is images' REPOSITORY:TAG column for args, sorted.
func imageNames(t *testing.T, root string, args ...string) []string {
	t.Helper()
	out := strings.Fields(mustStrata(t, root, append([]string{"images", "--format", "{{.Repository}}:{{.Tag}}"}, args...)...))
	slices.Sort(out)
	return out
}

// TestImagesFilters: images takes docker's name patterns and --filter
// dangling=, label=, reference=, before=, since=; bad filters are refused
// naming them.
func TestImagesFilters(t *testing.T) {
	testutil.RequiresRoot(t)
	testutil.RequiresBusybox(t)
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	mustStrata(t, root, "import", "-c", "LABEL tier=base", rootfs, "busybox:1.0")
	mustStrata(t, root, "import", "-c", "LABEL tier=app", "-c", "LABEL v=1", rootfs, "app:v1")
	mustStrata(t, root, "import", "-c", "LABEL tier=app", "-c", "LABEL v=2", rootfs, "app:v1") // the first app:v1 is left untagged
	mustStrata(t, root, "import", "-c", "LABEL tier=tool", rootfs, "tools/busy:x")
	check := func(want []string, args ...string) {
		t.Helper()
		if got := imageNames(t, root, args...); !slices.Equal(got, want) {
			t.Errorf("images %v = %v, want %v", args, got, want)
		}
	}
	check([]string{"busybox:1.0"}, "busy*")
	check([]string{"busybox:1.0"}, "busybox")
	check([]string{"busybox:1.0"}, "--filter", "reference=busybox:1.*")
	check([]string{"tools/busy:x"}, "--filter", "reference=*/busy")
	check([]string{"<none>:<none>"}, "--filter", "dangling=true")
	check([]string{"app:v1", "busybox:1.0", "tools/busy:x"}, "--filter", "dangling=false")
	check([]string{"<none>:<none>", "app:v1"}, "--filter", "label=tier=app")
	check([]string{"app:v1"}, "--filter", "label=tier=app", "--filter", "label=v=2")
	check([]string{"app:v1", "busybox:1.0", "tools/busy:x"}, "--filter", "label!=v=1")
	check([]string{"<none>:<none>", "busybox:1.0"}, "--filter", "before=app:v1")
	check([]string{"app:v1", "tools/busy:x"}, "--filter", "since="+strings.TrimSpace(mustStrata(t, root, "images", "-q", "--filter", "dangling=true")))
	for _, tt := range []struct{ filter, want string }{
		{"bogus=1", "invalid filter 'bogus'"},
		{"dangling=maybe", "invalid filter 'dangling=maybe'"},
		{"before=nosuch:1", "invalid filter 'before=nosuch:1'"},
		{"until=soon", "invalid filter 'until=soon'"},
		{"nokey", "bad format of filter"},
	} {
		if r := strata(t, root, "images", "--filter", tt.filter); r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("images --filter %s: exit %d, %q; want %q", tt.filter, r.code, r.stderr, tt.want)
		}
	}

	// image prune: only what the filters name.
	mustStrata(t, root, "image", "prune", "-a", "--filter", "label=tier=tool")
	check([]string{"<none>:<none>", "app:v1", "busybox:1.0"})
	mustStrata(t, root, "image", "prune", "-a", "--filter", "until=1h") // everything is younger
	check([]string{"<none>:<none>", "app:v1", "busybox:1.0"})
	mustStrata(t, root, "image", "prune", "-a", "--filter", "label!=tier=base")
	check([]string{"busybox:1.0"})
	if r := strata(t, root, "image", "prune", "--filter", "reference=x"); r.code != 1 || !strings.Contains(r.stderr, "invalid filter 'reference'") {
		t.Errorf("image prune --filter reference=x: exit %d, %q", r.code, r.stderr)
	}
}

// TestContainerPruneFilters: container and system prune remove only the
// stopped containers the until= and label= filters name.
func TestContainerPruneFilters(t *testing.T) {
	root := containerRoot(t)
	mustStrata(t, root, "create", "--name", "a", "-l", "team=a", "bb", "true")
	mustStrata(t, root, "create", "--name", "b", "-l", "team=b", "bb", "true")
	mustStrata(t, root, "create", "--name", "c", "bb", "true")
	left := func() []string {
		out := strings.Fields(mustStrata(t, root, "ps", "-a", "--format", "{{.Names}}"))
		slices.Sort(out)
		return out
	}
	mustStrata(t, root, "container", "prune", "--filter", "until=1h")
	if got := left(); len(got) != 3 {
		t.Errorf("prune until=1h removed young containers: %v left", got)
	}
	if out := mustStrata(t, root, "container", "prune", "--filter", "label=team=a"); !strings.Contains(out, "Deleted Containers:") {
		t.Errorf("container prune output %q", out)
	}
	if got := left(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("after prune label=team=a: %v", got)
	}
	mustStrata(t, root, "system", "prune", "--filter", "label!=team")
	if got := left(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after system prune label!=team: %v", got)
	}
	for _, args := range [][]string{{"container", "prune", "--filter", "status=exited"}, {"system", "prune", "--filter", "bogus=1"}} {
		if r := strata(t, root, args...); r.code != 1 || !strings.Contains(r.stderr, "invalid filter '") {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stderr)
		}
	}
	if got := left(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("refused prunes removed containers: %v", got)
	}
}
