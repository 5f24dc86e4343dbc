package build

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/strata-project/strata/internal/errdefs"
)

// Error is a Dockerfile problem at a line, printed as docker prints it:
// "Dockerfile:7: unknown instruction "RUNN" (did you mean RUN?)".
type Error struct {
	File string // the Dockerfile's name as the user gave it
	Line int    // 1-based; 0 when the problem has no line
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Unwrap makes every Dockerfile error an invalid argument.
func (e *Error) Unwrap() error { return errdefs.ErrInvalidArgument }

// Instruction is one parsed Dockerfile line.
type Instruction struct {
	Cmd      string   // lower case: "run", "copy"
	Line     int      // first line, 1-based
	Flags    []string // raw flags: "--from=build"
	Args     []string // arguments; ENV and LABEL as key, value pairs
	JSON     bool     // exec form
	Heredocs []parser.Heredoc
	Original string
	Sub      *Instruction // ONBUILD's trigger
}

// Stage is a FROM and what follows it.
type Stage struct {
	Index    int
	Name     string // the AS name, lower case; "" when unnamed
	Base     string // FROM's image or stage, before ARG expansion
	Platform string
	From     Instruction
	Instrs   []Instruction
}

// Dockerfile is a parsed Dockerfile.
type Dockerfile struct {
	Name     string
	MetaArgs []Instruction // ARGs before the first FROM
	Stages   []Stage
	Escape   rune
	// Syntax is the "# syntax=" directive's frontend, "" without one.
	// Docker 20.10 builds such a Dockerfile with that (current) frontend
	// and one without it with its built-in one; where their images differ
	// (history texts), the builder follows the one docker would use.
	Syntax string
}

var knownInstructions = []string{"from", "run", "cmd", "label", "maintainer", "expose", "env", "add", "copy",
	"entrypoint", "volume", "user", "workdir", "arg", "onbuild", "stopsignal", "healthcheck", "shell"}

var allowedFlags = map[string][]string{
	"from":        {"platform"},
	"run":         {"network", "mount", "security"},
	"copy":        {"from", "chown", "chmod", "link", "exclude", "parents"},
	"add":         {"chown", "chmod", "link", "exclude", "checksum", "keep-git-dir"},
	"healthcheck": {"interval", "timeout", "start-period", "start-interval", "retries"},
}

// Parse reads a Dockerfile; name is how errors call it.
func Parse(name string, data []byte) (*Dockerfile, error) {
	if name == "" {
		name = "Dockerfile"
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		line := 0
		var le *parser.LocationError
		if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
			line = le.Locations[0][0].Start.Line
		}
		msg := err.Error()
		if le != nil && le.Unwrap() != nil {
			msg = le.Unwrap().Error()
		}
		if msg == "file with no instructions" {
			line = 0
			msg = "the Dockerfile has no instructions"
		}
		return nil, &Error{File: name, Line: line, Msg: msg}
	}
	df := &Dockerfile{Name: name, Escape: res.EscapeToken}
	df.Syntax, _, _, _ = parser.DetectSyntax(data)
	var cur *Stage
	for _, n := range res.AST.Children {
		in, err := convert(name, n)
		if err != nil {
			return nil, err
		}
		switch {
		case in.Cmd == "from":
			st, err := newStage(name, in, len(df.Stages))
			if err != nil {
				return nil, err
			}
			for _, o := range df.Stages {
				if st.Name != "" && o.Name == st.Name {
					return nil, &Error{File: name, Line: in.Line, Msg: fmt.Sprintf("duplicate stage name %q", st.Name)}
				}
			}
			df.Stages = append(df.Stages, st)
			cur = &df.Stages[len(df.Stages)-1]
		case cur == nil && in.Cmd == "arg":
			df.MetaArgs = append(df.MetaArgs, in)
		case cur == nil:
			return nil, &Error{File: name, Line: in.Line, Msg: fmt.Sprintf("%s before FROM: a Dockerfile must start with FROM (only ARG may come before it)", strings.ToUpper(in.Cmd))}
		default:
			cur.Instrs = append(cur.Instrs, in)
		}
	}
	if len(df.Stages) == 0 {
		return nil, &Error{File: name, Msg: "no FROM instruction: a Dockerfile needs at least one stage"}
	}
	return df, nil
}

func newStage(file string, in Instruction, idx int) (Stage, error) {
	st := Stage{Index: idx, From: in}
	switch {
	case len(in.Args) == 1:
	case len(in.Args) == 3 && strings.EqualFold(in.Args[1], "as"):
		st.Name = strings.ToLower(in.Args[2])
		if !validStageName(st.Name) {
			return st, &Error{File: file, Line: in.Line, Msg: fmt.Sprintf("invalid stage name %q: use letters, digits, '-', '_' and '.', starting with a letter", in.Args[2])}
		}
	default:
		return st, &Error{File: file, Line: in.Line, Msg: "FROM takes an image and an optional \"AS name\": FROM image [AS name]"}
	}
	st.Base = in.Args[0]
	for _, f := range in.Flags {
		if v, ok := flagValue(f, "platform"); ok {
			st.Platform = v
		}
	}
	return st, nil
}

func validStageName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func convert(file string, n *parser.Node) (Instruction, error) {
	in := Instruction{
		Cmd:      strings.ToLower(n.Value),
		Line:     n.StartLine,
		Flags:    n.Flags,
		JSON:     n.Attributes["json"],
		Heredocs: n.Heredocs,
		Original: n.Original,
	}
	fail := func(format string, args ...any) (Instruction, error) {
		return in, &Error{File: file, Line: in.Line, Msg: fmt.Sprintf(format, args...)}
	}
	if !isKnown(in.Cmd) {
		msg := fmt.Sprintf("unknown instruction %q", n.Value)
		if s := suggest(in.Cmd); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.ToUpper(s))
		}
		return fail("%s", msg)
	}
	if in.Cmd == "onbuild" {
		if n.Next == nil || len(n.Next.Children) == 0 {
			return fail("ONBUILD needs an instruction: ONBUILD RUN make")
		}
		sub, err := convert(file, n.Next.Children[0])
		if err != nil {
			return in, err
		}
		switch sub.Cmd {
		case "onbuild", "from", "maintainer":
			return fail("%s is not allowed as an ONBUILD trigger", strings.ToUpper(sub.Cmd))
		}
		sub.Line = in.Line
		in.Sub = &sub
		return in, nil
	}
	for a := n.Next; a != nil; a = a.Next {
		in.Args = append(in.Args, a.Value)
	}
	if in.Cmd == "env" || in.Cmd == "label" {
		// The parser gives key, value, separator triples.
		var kv []string
		for i := 0; i+1 < len(in.Args); i += 3 {
			kv = append(kv, in.Args[i], in.Args[i+1])
		}
		in.Args = kv
	}
	allowed := allowedFlags[in.Cmd]
	for _, f := range in.Flags {
		name, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !strings.HasPrefix(f, "--") || !contains(allowed, name) {
			if len(allowed) == 0 {
				return fail("%s takes no flags, got %q", strings.ToUpper(in.Cmd), f)
			}
			return fail("unknown flag %q for %s (it takes --%s)", f, strings.ToUpper(in.Cmd), strings.Join(allowed, ", --"))
		}
	}
	need := map[string]int{"from": 1, "run": 1, "copy": 2, "add": 2, "env": 2, "label": 2, "workdir": 1, "user": 1,
		"arg": 1, "expose": 1, "volume": 1, "stopsignal": 1, "healthcheck": 1, "shell": 1, "maintainer": 1, "entrypoint": 1}
	min := need[in.Cmd]
	if (in.Cmd == "copy" || in.Cmd == "add" || in.Cmd == "run") && len(in.Heredocs) > 0 {
		min = 1
	}
	if len(in.Args) < min {
		switch in.Cmd {
		case "copy", "add":
			return fail("%s needs at least one source and a destination: %s SRC... DEST", strings.ToUpper(in.Cmd), strings.ToUpper(in.Cmd))
		}
		return fail("%s needs an argument", strings.ToUpper(in.Cmd))
	}
	switch in.Cmd {
	case "shell":
		if !in.JSON {
			return fail("SHELL needs the JSON form: SHELL [\"/bin/sh\", \"-c\"]")
		}
	case "workdir", "user", "stopsignal", "maintainer":
		if len(in.Args) != 1 {
			return fail("%s takes one argument", strings.ToUpper(in.Cmd))
		}
	case "healthcheck":
		t := strings.ToUpper(in.Args[0])
		if t != "NONE" && t != "CMD" && t != "CMD-SHELL" {
			return fail("HEALTHCHECK takes NONE or CMD, got %q", in.Args[0])
		}
		if t == "NONE" && len(in.Args) > 1 {
			return fail("HEALTHCHECK NONE takes no arguments")
		}
		if t == "CMD" && len(in.Args) < 2 {
			return fail("HEALTHCHECK CMD needs a command")
		}
	}
	return in, nil
}

func isKnown(cmd string) bool { return contains(knownInstructions, cmd) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known instruction closest to cmd, if close enough.
func suggest(cmd string) string {
	best, bestD := "", 3
	for _, k := range knownInstructions {
		d := levenshtein(cmd, k)
		if d < bestD || (d == bestD && best == "") {
			if d <= 2 && d < len(k) {
				best, bestD = k, d
			}
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// flagValue returns the value of --name=value in f.
func flagValue(f, name string) (string, bool) {
	k, v, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
	if k != name {
		return "", false
	}
	if !ok {
		return "true", true
	}
	return v, true
}

// flags returns every value of --name in in.Flags.
func (in Instruction) flags(name string) []string {
	var out []string
	for _, f := range in.Flags {
		if v, ok := flagValue(f, name); ok {
			out = append(out, v)
		}
	}
	return out
}

func (in Instruction) flag(name string) string {
	v := in.flags(name)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}
