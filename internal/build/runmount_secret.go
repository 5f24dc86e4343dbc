package build

import (
	"encoding/csv"
	"fmt"
	"os"
	"strings"

	"github.com/strata-project/strata/internal/errdefs"
)

// secretSource is where a --secret's value comes from: a file or an
// environment variable of the strata process. The value is read when a
// RUN mounts it and never enters a layer, the history or a cache key.
type secretSource struct {
	file string
	env  string
}

// parseSecrets reads `strata build --secret` values, as buildx does:
// id=NAME,src=FILE | id=NAME,env=VAR | id=NAME,type=file|env,src=… ; with
// neither src nor env, the variable NAME if it is set.
func parseSecrets(specs []string) (map[string]secretSource, error) {
	out := map[string]secretSource{}
	for _, v := range specs {
		fields, err := csv.NewReader(strings.NewReader(v)).Read()
		if err != nil {
			return nil, fmt.Errorf("--secret %s: %v: %w", v, err, errdefs.ErrInvalidArgument)
		}
		var id, typ, src, env string
		for _, f := range fields {
			k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
			if !ok {
				return nil, fmt.Errorf("--secret %s: %q is not key=value: %w", v, f, errdefs.ErrInvalidArgument)
			}
			switch strings.ToLower(k) {
			case "id":
				id = val
			case "type":
				typ = strings.ToLower(val)
			case "src", "source":
				src = val
			case "env":
				env = val
			default:
				return nil, fmt.Errorf("--secret %s: unknown key %q (want id, src, env or type): %w", v, k, errdefs.ErrInvalidArgument)
			}
		}
		if id == "" {
			return nil, fmt.Errorf("--secret %s: needs id=NAME: %w", v, errdefs.ErrInvalidArgument)
		}
		var s secretSource
		switch {
		case typ == "env":
			s.env = firstOf(env, src, id)
		case typ == "file" || src != "":
			if src == "" {
				return nil, fmt.Errorf("--secret %s: type=file needs src=FILE: %w", v, errdefs.ErrInvalidArgument)
			}
			s.file = src
		case typ != "":
			return nil, fmt.Errorf("--secret %s: type=%s: want file or env: %w", v, typ, errdefs.ErrInvalidArgument)
		case env != "":
			s.env = env
		default:
			if _, ok := os.LookupEnv(id); !ok {
				return nil, fmt.Errorf("--secret %s: give src=FILE or env=VAR (there is no variable %s): %w", v, id, errdefs.ErrInvalidArgument)
			}
			s.env = id
		}
		if s.file != "" {
			if _, err := os.Stat(s.file); err != nil {
				return nil, fmt.Errorf("--secret id=%s: %w", id, err)
			}
		}
		out[id] = s
	}
	return out, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// read returns the secret's value.
func (s secretSource) read(id string) ([]byte, error) {
	if s.env != "" {
		v, ok := os.LookupEnv(s.env)
		if !ok {
			return nil, fmt.Errorf("secret %s: the variable %s is not set", id, s.env)
		}
		return []byte(v), nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", id, err)
	}
	return b, nil
}
