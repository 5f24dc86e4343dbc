// Package depcheck holds a test that keeps Strata's imports pointing
// downward, as ../shared/STYLE.md draws them (go-containerregistry's
// internal/depcheck does the same).
package depcheck

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
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
	"proc":     {"errdefs", "mount", "snapshot", "runtime", "container", "engine", "cli"},
	"gc":       {"images", "container", "build", "engine", "cli"},
	"images":   {"snapshot", "engine", "cli", "container", "build", "registry"},
	"layer":    {"images", "engine", "cli", "container", "build"},
	"registry": {"snapshot", "runtime", "build", "engine", "cli", "container", "layer"},
	"events":   {"runtime", "container", "images", "network", "engine", "cli"},
	"config":   {"content", "metadata", "snapshot", "images", "layer", "engine", "cli"},
	"transfer": {"engine", "cli", "api", "build", "container", "runtime", "registry"},
	"host":     {"errdefs", "content", "metadata", "snapshot", "images", "runtime", "engine", "cli"},
	"filters":  {"content", "metadata", "snapshot", "images", "container", "engine", "cli"},
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

// frontEndMayImport is all of Strata that a front end (internal/cli, and
// internal/api, the Engine API server) may import directly: the engine
// (every verb is an engine method, so both front ends see the same
// containers and images), error kinds, and the progress events and their
// rendering (a display, not a part of the engine). The CLI may also import
// api, the second front end, which "strata system service" starts; tests
// may import testutil. Anything else is reached through the engine.
var frontEndMayImport = map[string]bool{"engine": true, "errdefs": true, "progress": true}

// registryVerbsMayImport is what the registry verbs (cli/registry*.go) may
// import besides: they serve and maintain a registry's own store (local
// blobs, or S3 and PostgreSQL), which no engine opens; the registry is a
// second product with its own front end, not a part of the engine.
var registryVerbsMayImport = []string{"registry", "content"}

func TestFrontEndsTalkToEngineOnly(t *testing.T) {
	for _, frontEnd := range []string{"cli", "api"} {
		files, err := filepath.Glob("../" + frontEnd + "/*.go")
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s files: %v", frontEnd, err)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Base(file)
			for _, is := range f.Imports {
				imp, _ := strconv.Unquote(is.Path.Value)
				rest, ok := strings.CutPrefix(imp, mod)
				if !ok || frontEndMayImport[rest] || rest == frontEnd {
					continue
				}
				allowed := frontEnd == "cli" && rest == "api" ||
					strings.HasSuffix(base, "_test.go") && rest == "testutil"
				for _, p := range registryVerbsMayImport {
					allowed = allowed || frontEnd == "cli" && strings.HasPrefix(base, "registry") && (rest == p || strings.HasPrefix(rest, p+"/"))
				}
				if !allowed {
					t.Errorf("%s imports %s: a front end talks to the engine only (add an engine method)", file, imp)
				}
			}
		}
	}
}
