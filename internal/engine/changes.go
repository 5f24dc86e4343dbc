package engine

import (
	"fmt"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/runtime"
)

// ApplyChanges applies Dockerfile instructions given with --change (CMD,
// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
// WORKDIR), as docker import and docker commit do.
func ApplyChanges(cfg *ocispec.ImageConfig, changes []string) error {
	for _, c := range changes {
		if err := applyChange(cfg, c); err != nil {
			return fmt.Errorf("--change %q: %w", c, err)
		}
	}
	return nil
}

func applyChange(cfg *ocispec.ImageConfig, change string) error {
	res, err := parser.Parse(strings.NewReader(change))
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("want exactly one instruction: %w", errdefs.ErrInvalidArgument)
	}
	n := res.AST.Children[0]
	var args []string
	for a := n.Next; a != nil; a = a.Next {
		args = append(args, a.Value)
	}
	isJSON := n.Attributes["json"]
	shell := func() []string {
		if isJSON {
			return args
		}
		return []string{"/bin/sh", "-c", strings.Join(args, " ")}
	}
	need := func(k int) error {
		if len(args) < k {
			return fmt.Errorf("%s needs an argument: %w", strings.ToUpper(n.Value), errdefs.ErrInvalidArgument)
		}
		return nil
	}
	switch strings.ToLower(n.Value) {
	case "cmd":
		cfg.Cmd = shell()
	case "entrypoint":
		cfg.Entrypoint = shell()
	case "env":
		if err := need(2); err != nil {
			return err
		}
		// The parser gives (key, value, separator) triples.
		for i := 0; i+1 < len(args); i += 3 {
			cfg.Env = runtime.SetEnv(cfg.Env, unquote(args[i]), unquote(args[i+1]))
		}
	case "label":
		if err := need(2); err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(args); i += 3 {
			cfg.Labels[unquote(args[i])] = unquote(args[i+1])
		}
	case "expose":
		if err := need(1); err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range args {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case "volume":
		if err := need(1); err != nil {
			return err
		}
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range args {
			cfg.Volumes[v] = struct{}{}
		}
	case "user":
		if err := need(1); err != nil {
			return err
		}
		cfg.User = args[0]
	case "workdir":
		if err := need(1); err != nil {
			return err
		}
		cfg.WorkingDir = args[0]
	case "stopsignal":
		if err := need(1); err != nil {
			return err
		}
		cfg.StopSignal = args[0]
	case "onbuild":
		// kept in the docker-compatible config only; OCI has no field
		return fmt.Errorf("ONBUILD is not supported with --change: %w", errdefs.ErrInvalidArgument)
	default:
		return fmt.Errorf("instruction %s cannot be used with --change (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR): %w",
			strings.ToUpper(n.Value), errdefs.ErrInvalidArgument)
	}
	return nil
}

// unquote drops the quotes the parser leaves around a word ("a b" or 'a b').
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		if s[0] == '"' {
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
		}
		return s[1 : len(s)-1]
	}
	return s
}
