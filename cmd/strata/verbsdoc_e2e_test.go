package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// docRow is a row of docs/docker-verbs.md: what docker's user types, and
// what the page says Strata does with it.
type docRow struct {
	subject string // the first column
	status  string // "as docker", "different" or "missing"
	notes   string
}

var (
	docRowRe  = regexp.MustCompile("^\\| (.+?) \\| (as docker|different|missing) \\| (.*)\\|$")
	docVerbRe = regexp.MustCompile("^`docker ([a-z ]+)`$")
	docFlagRe = regexp.MustCompile("`(--[a-z0-9-]+)`")
)

func readVerbsDoc(t *testing.T) (verbs, flags []docRow) {
	t.Helper()
	b, err := os.ReadFile("../../docs/docker-verbs.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		m := docRowRe.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "| `") {
				t.Errorf("docs/docker-verbs.md: row %q has no status (as docker, different or missing)", line)
			}
			continue
		}
		r := docRow{m[1], m[2], m[3]}
		if docVerbRe.MatchString(r.subject) {
			verbs = append(verbs, r)
		} else {
			flags = append(flags, r)
		}
	}
	return verbs, flags
}

// TestDockerVerbsDoc holds docs/docker-verbs.md to the binary: every docker
// verb and run flag the page says Strata has (as docker, or different) is
// there, and every one it says is missing is not, so that the page changes
// when the code does.
func TestDockerVerbsDoc(t *testing.T) {
	root := t.TempDir()
	verbs, flags := readVerbsDoc(t)
	if len(verbs) < 40 || len(flags) < 40 {
		t.Fatalf("read %d verbs and %d flag rows from docs/docker-verbs.md; the table's shape changed?", len(verbs), len(flags))
	}
	for _, r := range verbs {
		words := strings.Fields(docVerbRe.FindStringSubmatch(r.subject)[1])
		out := strata(t, root, append(words, "--help")...).stdout
		has := strings.Contains(out, "Usage:\n  strata "+strings.Join(words, " ")+" ")
		switch {
		case r.status == "missing" && has:
			t.Errorf("docs/docker-verbs.md says %s is missing, but strata %s exists: update its row", r.subject, strings.Join(words, " "))
		case r.status != "missing" && !has:
			t.Errorf("docs/docker-verbs.md says %s is %s, but strata has no %s", r.subject, r.status, strings.Join(words, " "))
		}
	}
	for _, verb := range []string{"run", "create"} {
		help := strata(t, root, verb, "--help").stdout
		for _, r := range flags {
			if verb == "create" && strings.Contains(r.notes, "(run only)") {
				continue
			}
			for _, m := range docFlagRe.FindAllStringSubmatch(r.subject, -1) {
				has := regexp.MustCompile(`(?m)^\s+(-\w, )?` + m[1] + `[ =]`).MatchString(help)
				switch {
				case r.status == "missing" && has:
					t.Errorf("docs/docker-verbs.md says %s is missing, but strata %s has it: update its row", m[1], verb)
				case r.status != "missing" && !has:
					t.Errorf("docs/docker-verbs.md says %s is %s, but strata %s has no %s", m[1], r.status, verb, m[1])
				}
			}
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("--help touched the store: %v", entries)
	}
}
