package build

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// changeInstructions are what --change accepts: docker's list (CMD,
// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, and
// HEALTHCHECK) less ONBUILD and HEALTHCHECK, which an OCI config cannot
// hold, plus STOPSIGNAL, which it can.
var changeInstructions = []string{"cmd", "entrypoint", "env", "expose", "label", "stopsignal", "user", "volume", "workdir"}

// changeAccepted is the list as errors print it.
const changeAccepted = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"

// ApplyChanges applies the Dockerfile instructions given with --change
// (docker import -c, docker commit -c) to cfg, in order, through the
// builder's own interpreter (ApplyConfig): ${VAR} sees the config's Env,
// ENTRYPOINT clears the Cmd unless a CMD came before it, as docker's. On an
// error cfg is left as it was and the error names the change.
func ApplyChanges(cfg *ocispec.ImageConfig, changes []string) error {
	c := Image{Config: Config{ImageConfig: *cfg}}.clone().Config // maps and lists of its own
	st := ConfigState{Config: &c}
	for _, ch := range changes {
		in, err := ParseChange(ch)
		if err != nil {
			return err
		}
		if _, err := ApplyConfig(&st, in); err != nil {
			return changeError(ch, err.Error())
		}
	}
	*cfg = c.ImageConfig
	return nil
}

// ParseChange parses one --change with BuildKit's parser, as a Dockerfile
// line, and refuses what --change does not accept with docker's words:
// `run is not a valid change command`.
func ParseChange(change string) (Instruction, error) {
	res, err := parser.Parse(strings.NewReader(change))
	if err != nil {
		return Instruction{}, changeError(change, err.Error())
	}
	if len(res.AST.Children) != 1 {
		return Instruction{}, changeError(change, "want exactly one instruction")
	}
	n := res.AST.Children[0]
	cmd := strings.ToLower(n.Value)
	switch {
	case cmd == "onbuild" || cmd == "healthcheck":
		return Instruction{}, changeError(change, fmt.Sprintf("%s is not supported with --change (use %s)", strings.ToUpper(cmd), changeAccepted))
	case !contains(changeInstructions, cmd):
		return Instruction{}, changeError(change, fmt.Sprintf("%s is not a valid change command (use %s)", cmd, changeAccepted))
	}
	in, err := convert("--change", n)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return in, changeError(change, e.Msg)
		}
		return in, changeError(change, err.Error())
	}
	return in, nil
}

// changeError prints as `--change "RUN x": msg` and is an invalid argument.
func changeError(change, msg string) error {
	return &Error{File: fmt.Sprintf("--change %q", change), Msg: msg}
}
