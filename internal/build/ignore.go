package build

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Ignore is a parsed .dockerignore: patterns matched against slash-separated
// context paths; a pattern also excludes everything under a directory it
// matches; "!" re-includes; the last matching pattern wins.
type Ignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// ParseIgnore reads .dockerignore content.
func ParseIgnore(data []byte) (*Ignore, error) {
	ig := &Ignore{}
	s := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := false
		if strings.HasPrefix(line, "!") {
			neg = true
			line = strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		if line == "" {
			continue
		}
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore:%d: bad pattern %q: %w", n, line, err)
		}
		ig.rules = append(ig.rules, ignoreRule{re: re, negate: neg})
	}
	return ig, nil
}

// globRegexp turns a Go filepath.Match pattern with "**" (any number of
// directories) into an anchored regexp.
func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					b.WriteString("(.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			cls := p[i+1 : i+j]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + cls + "]")
			i += j
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(string(p[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Excluded reports whether the context path rel is ignored.
func (ig *Ignore) Excluded(rel string) bool {
	if ig == nil || len(ig.rules) == 0 {
		return false
	}
	ex := false
	for _, r := range ig.rules {
		if r.matches(rel) {
			ex = !r.negate
		}
	}
	return ex
}

func (r ignoreRule) matches(rel string) bool {
	for p := rel; p != "." && p != "" && p != "/"; p = path.Dir(p) {
		if r.re.MatchString(p) {
			return true
		}
	}
	return false
}

// mayHaveExceptions says whether some "!" rule could re-include something
// under the excluded directory dir, so a walk must still descend into it.
func (ig *Ignore) mayHaveExceptions() bool {
	for _, r := range ig.rules {
		if r.negate {
			return true
		}
	}
	return false
}

// globMatch matches a COPY source pattern against a context path.
func globMatch(pattern, rel string) bool {
	ok, err := path.Match(pattern, rel)
	return err == nil && ok
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }
