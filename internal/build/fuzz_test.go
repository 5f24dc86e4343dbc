package build

import (
	"errors"
	"strings"
	"testing"
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
