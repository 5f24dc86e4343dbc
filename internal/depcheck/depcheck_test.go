// Package depcheck holds a test that keeps Strata's imports pointing
// downward, as ../shared/STYLE.md draws them (go-containerregistry's
// internal/depcheck does the same).
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/strata-project/strata/internal/"

// forbidden[p] lists packages p must not depend on, directly or not.
var forbidden = map[string][]string{
	"content":  {"images", "manifest", "snapshot", "engine", "cli", "registry"},
	"archive":  {"images", "manifest", "content", "snapshot", "engine", "cli"},
	"verify":   {"content", "images", "engine"},
	"manifest": {"content", "snapshot", "engine", "cli"},
	"metadata": {"images", "snapshot", "engine", "cli"},
	"snapshot": {"content", "images", "engine", "cli", "archive"},
	"gc":       {"images", "container", "build", "engine", "cli"},
	"images":   {"snapshot", "engine", "cli", "container", "build", "registry"},
	"layer":    {"images", "engine", "cli", "container", "build"},
	"registry": {"snapshot", "runtime", "build", "engine", "cli", "container", "layer"},
	"engine":   {"cli"},
}

func TestImportsPointDownward(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./../"+pkg+"/...").CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") {
				continue
			}
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep == mod+b || strings.HasPrefix(dep, mod+b+"/") {
					t.Errorf("%s depends on %s, which STYLE.md forbids", pkg, dep)
				}
			}
		}
	}
}
