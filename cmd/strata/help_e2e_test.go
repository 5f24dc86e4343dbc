package main

import (
	"strings"
	"testing"
)

// TestRootHelpGroups: strata --help lists the common verbs first, run at
// their head, then the groups of verbs, then the rest, as docker 28's help
// does, with a run example; a group's usage line is its [command] form.
func TestRootHelpGroups(t *testing.T) {
	root := t.TempDir()
	out := mustStrata(t, root, "--help")
	common := strings.Index(out, "Common Commands:\n  run ")
	mgmt := strings.Index(out, "Management Commands:\n")
	other := strings.Index(out, "Commands:\n  ")
	if common < 0 || mgmt < common || strings.LastIndex(out, "\nCommands:\n") < mgmt || other < 0 {
		t.Fatalf("strata --help is not grouped as docker's (Common, Management, Commands):\n%s", out)
	}
	section := func(title string) string {
		s := out[strings.Index(out, title):]
		if i := strings.Index(s, "\n\n"); i >= 0 {
			s = s[:i]
		}
		return s
	}
	for _, v := range []string{"exec", "ps", "build", "pull", "push", "images", "version", "info"} {
		if !strings.Contains(section("Common Commands:"), "\n  "+v+" ") {
			t.Errorf("Common Commands lacks %s:\n%s", v, section("Common Commands:"))
		}
	}
	for _, v := range []string{"container", "image", "system", "network", "builder", "registry"} {
		if !strings.Contains(section("Management Commands:"), "\n  "+v+" ") {
			t.Errorf("Management Commands lacks %s", v)
		}
	}
	if !strings.Contains(section("\nCommands:"), "\n  rm ") || strings.Contains(section("\nCommands:"), "\n  run ") {
		t.Errorf("Commands section:\n%s", section("\nCommands:"))
	}
	if !strings.Contains(section("Examples:"), "strata run ") {
		t.Errorf("no run example:\n%s", section("Examples:"))
	}
	img := mustStrata(t, root, "image", "--help")
	if !strings.Contains(img, "Usage:\n  strata image [command]\n\n") {
		t.Errorf("strata image --help usage:\n%s", img)
	}
}

// TestEveryHelpExplains walks every verb strata --help lists, and every verb
// of each group: each --help says more than its one-line summary (prose of
// its own) and shows an example (cobra's own help and completion aside).
func TestEveryHelpExplains(t *testing.T) {
	root := t.TempDir()
	type verb struct {
		words   []string
		summary string
	}
	verbs := func(args ...string) []verb {
		out := mustStrata(t, root, append(args, "--help")...)
		var vs []verb
		listing := false
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.HasSuffix(line, "Commands:"):
				listing = true
			case line == "":
				listing = false
			case listing:
				if f := strings.Fields(line); len(f) > 1 && f[0] != "help" && f[0] != "completion" {
					vs = append(vs, verb{append(append([]string{}, args...), f[0]), strings.Join(f[1:], " ")})
				}
			}
		}
		return vs
	}
	var all []verb
	for _, v := range verbs() {
		all = append(all, v)
		all = append(all, verbs(v.words...)...)
	}
	if len(all) < 60 {
		t.Fatalf("found %d verbs in the help listings", len(all))
	}
	for _, v := range all {
		out := mustStrata(t, root, append(v.words, "--help")...)
		intro := strings.Join(strings.Fields(out[:strings.Index(out, "Usage:")]), " ")
		if intro == v.summary {
			t.Errorf("strata %s --help says only its summary %q", strings.Join(v.words, " "), v.summary)
		}
		if !strings.Contains(out, "\nExamples:\n  strata ") {
			t.Errorf("strata %s --help has no example", strings.Join(v.words, " "))
		}
	}
}
