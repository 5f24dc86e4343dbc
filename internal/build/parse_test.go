package build

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/errdefs"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, dockerfile, want string
	}{
		{"misspelled", "FROM scratch\nRUNN echo hi\n", `Dockerfile:2: unknown instruction "RUNN" (did you mean RUN?)`},
		{"misspelled copy", "FROM scratch\n\n\nCOPPY a b\n", `Dockerfile:4: unknown instruction "COPPY" (did you mean COPY?)`},
		{"lower case", "FROM scratch\nworkdri /x\n", `Dockerfile:2: unknown instruction "workdri" (did you mean WORKDIR?)`},
		{"no suggestion", "FROM scratch\nFROBNICATE x\n", `Dockerfile:2: unknown instruction "FROBNICATE"`},
		{"before from", "RUN echo\nFROM scratch\n", `Dockerfile:1: RUN before FROM`},
		{"empty", "# nothing\n", `Dockerfile: the Dockerfile has no instructions`},
		{"only args", "ARG X=1\n", `Dockerfile: no FROM instruction`},
		{"copy one arg", "FROM scratch\nCOPY a\n", `Dockerfile:2: COPY needs at least one source and a destination`},
		{"env no value", "FROM scratch\nENV A\n", `Dockerfile:2: ENV must have two arguments`},
		{"bad flag", "FROM scratch\nCOPY --form=x a b\n", `Dockerfile:2: unknown flag "--form=x" for COPY`},
		{"flag on env", "FROM scratch\nENV --x=1 A=b\n", `Dockerfile:2: ENV takes no flags`},
		{"from as", "FROM scratch AS\n", `Dockerfile:1: FROM takes an image and an optional "AS name"`},
		{"bad stage name", "FROM scratch AS 1abc\n", `Dockerfile:1: invalid stage name "1abc"`},
		{"dup stage", "FROM scratch AS a\nFROM scratch AS a\n", `Dockerfile:2: duplicate stage name "a"`},
		{"shell not json", "FROM scratch\nSHELL /bin/bash -c\n", `Dockerfile:2: SHELL needs the JSON form`},
		{"healthcheck type", "FROM scratch\nHEALTHCHECK FOO x\n", `Dockerfile:2: HEALTHCHECK takes NONE or CMD`},
		{"onbuild from", "FROM scratch\nONBUILD FROM x\n", `Dockerfile:2: FROM is not allowed as an ONBUILD trigger`},
		{"continuation line", "FROM scratch\nRUN echo \\\n  a\nBADD x\n", `Dockerfile:4: unknown instruction "BADD" (did you mean ADD?)`},
		{"unterminated heredoc", "FROM scratch\nRUN <<EOF\necho\n", `Dockerfile:2: unterminated heredoc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("Dockerfile", []byte(tt.dockerfile))
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %q, want prefix %q", err, tt.want)
			}
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("got %T, want *Error that is ErrInvalidArgument", err)
			}
		})
	}
}

func TestParseStages(t *testing.T) {
	df, err := Parse("Dockerfile", []byte(`ARG BASE=busybox
FROM $BASE AS Build
RUN make
ONBUILD RUN echo trigger
FROM scratch
COPY --from=build /out /out
ENV A=1 B="two words"
LABEL x=y
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(df.MetaArgs) != 1 || len(df.Stages) != 2 {
		t.Fatalf("got %d meta args and %d stages, want 1 and 2", len(df.MetaArgs), len(df.Stages))
	}
	if got := df.Stages[0].Name; got != "build" {
		t.Errorf("stage name %q, want build (lower case)", got)
	}
	if got := df.Stages[0].Instrs[1].Sub; got == nil || got.Cmd != "run" {
		t.Errorf("ONBUILD trigger %+v, want a RUN", got)
	}
	env := df.Stages[1].Instrs[1]
	if got := strings.Join(env.Args, "|"); got != `A|1|B|"two words"` {
		t.Errorf("ENV args %q, want key/value pairs", got)
	}
	if got := df.Stages[1].Instrs[0].flag("from"); got != "build" {
		t.Errorf("--from %q, want build", got)
	}
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{"runn": "run", "cpy": "copy", "entrypiont": "entrypoint", "xyzzy": "", "fro": "from"} {
		if got := suggest(in); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIgnore(t *testing.T) {
	ig, err := ParseIgnore([]byte("# comment\n*.log\n!keep.log\nbuild/\n**/*.tmp\n/secret\ndocs/**/draft*\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{
		"a.log": true, "keep.log": false, "sub/a.log": false,
		"build": true, "build/x/y": true, "builder": false,
		"x.tmp": true, "a/b/c.tmp": true, "secret": true, "secret/k": true,
		"docs/draft1": true, "docs/a/b/draft2": true, "docs/final": false, "main.go": false,
	}
	for p, want := range tests {
		if got := ig.Excluded(p); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	mk := func(target, name string) {
		if err := symlinkAt(root, target, name); err != nil {
			t.Fatal(err)
		}
	}
	mk("/etc", "abs")
	mk("../../..", "up")
	mk("sub", "rel")
	tests := map[string]string{
		"abs/passwd":   "etc/passwd",
		"up/etc":       "etc",
		"rel/x":        "sub/x",
		"../../a":      "a",
		"missing/a/..": "missing",
	}
	for in, want := range tests {
		got, err := resolveIn(root, in, true)
		if err != nil {
			t.Fatal(err)
		}
		if got != root+"/"+want {
			t.Errorf("resolveIn(%q) = %q, want %q", in, got, root+"/"+want)
		}
	}
}
