package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/strata-project/strata/internal/errdefs"
)

// ConfigFile is the engine-wide configuration, a JSON file in the root
// whose keys are those of docker's daemon.json for the same settings:
//
//	{"no-new-privileges": true}
//
// A missing file is the defaults (docker's). Environment variables
// override it: STRATA_NO_NEW_PRIVILEGES=true|false.
const ConfigFile = "config.json"

// NoNewPrivilegesEnv overrides Config.NoNewPrivileges.
const NoNewPrivilegesEnv = "STRATA_NO_NEW_PRIVILEGES"

// Config is the engine-wide configuration.
type Config struct {
	// NoNewPrivileges turns no-new-privileges on for every container
	// whose --security-opt does not say otherwise (docker's
	// --no-new-privileges daemon option). Off by default, as docker's:
	// setuid binaries (su, sudo, ping) work in containers.
	NoNewPrivileges bool `json:"no-new-privileges"`
}

// loadConfig reads root's ConfigFile and the environment.
func loadConfig(root string) (Config, error) {
	var c Config
	p := filepath.Join(root, ConfigFile)
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return c, fmt.Errorf("read engine config: %w", err)
	default:
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("engine config %s: %v (want a JSON object such as {\"no-new-privileges\": true}): %w", p, err, errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := os.LookupEnv(NoNewPrivilegesEnv); ok && v != "" {
		nnp, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s=%q: want true or false: %w", NoNewPrivilegesEnv, v, errdefs.ErrInvalidArgument)
		}
		c.NoNewPrivileges = nnp
	}
	return c, nil
}

// Config is the engine-wide configuration in force.
func (e *Engine) Config() Config { return e.cfg }
