package build

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-project/strata/internal/errdefs"
)

// FuzzParseDockerfile: Parse never panics; an error is always an *Error
// whose line is inside the file, and a success has stages.
func FuzzParseDockerfile(f *testing.F) {
	for _, s := range []string{
		"FROM scratch\n",
		"ARG X=1\nFROM busybox:$X AS a\nRUN echo hi\nCOPY --from=a /x /y\n",
		"FROM a\nRUNN x\n",
		"FROM a\nRUN <<EOF\necho\nEOF\n",
		"FROM a\nONBUILD RUN x\nHEALTHCHECK --interval=1s CMD true\n",
		"# escape=`\nFROM a\nRUN echo `\n  hi\n",
		"FROM a\nENV A=1 B=\"2 3\"\nLABEL a=b\nEXPOSE 80/udp\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		df, err := Parse("Dockerfile", []byte(s))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			lines := strings.Count(s, "\n") + 1
			if pe.Line < 0 || pe.Line > lines {
				t.Fatalf("error line %d outside a %d-line file: %v", pe.Line, lines, err)
			}
			return
		}
		if len(df.Stages) == 0 {
			t.Fatal("no stages and no error")
		}
	})
}

// FuzzApplyChanges: --change never panics; a refused change is an invalid
// argument that names the change and leaves the config as it was; an
// accepted one is an instruction --change accepts.
func FuzzApplyChanges(f *testing.F) {
	for _, s := range []string{`CMD ["sh"]`, `ENV A=1 B="2 3"`, "ENV B=${A:-x}", "LABEL a=b", "EXPOSE 80/udp 81",
		"WORKDIR rel", `VOLUME ["/a"]`, "ENTRYPOINT x", "RUN echo", "HEALTHCHECK NONE", "", "CMD a\nENV b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg := ocispec.ImageConfig{Env: []string{"A=1"}, Cmd: []string{"x"}}
		err := ApplyChanges(&cfg, []string{s})
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), fmt.Sprintf("--change %q: ", s)) {
				t.Fatalf("error %v: want an invalid argument naming the change", err)
			}
			if !slices.Equal(cfg.Env, []string{"A=1"}) || !slices.Equal(cfg.Cmd, []string{"x"}) {
				t.Fatalf("a refused change altered the config: %+v", cfg)
			}
			return
		}
		in, err := ParseChange(s)
		if err != nil || !contains(changeInstructions, in.Cmd) {
			t.Fatalf("applied %q (%s), which ParseChange refuses: %v", s, in.Cmd, err)
		}
	})
}
