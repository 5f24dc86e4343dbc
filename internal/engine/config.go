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
//	{"no-new-privileges": true, "dedupe": false}
//
// A missing file is the defaults (docker's, and dedupe on). Environment
// variables override it: STRATA_NO_NEW_PRIVILEGES=true|false,
// STRATA_DEDUPE=1|0.
const ConfigFile = "config.json"

// NoNewPrivilegesEnv overrides Config.NoNewPrivileges.
const NoNewPrivilegesEnv = "STRATA_NO_NEW_PRIVILEGES"

// DedupeEnv overrides Config.Dedupe.
const DedupeEnv = "STRATA_DEDUPE"

// Config is the engine-wide configuration.
type Config struct {
	// Dedupe, unless false, stores each regular file of the committed
	// snapshots once, hard-linked from a content-addressed pool
	// (snapshot/filepool), on the overlay driver. Off, new snapshots keep
	// their own copies; what is pooled stays so until removed.
	Dedupe *bool `json:"dedupe,omitempty"`
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
	if v, ok := os.LookupEnv(DedupeEnv); ok && v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s=%q: want 1 or 0 (true or false): %w", DedupeEnv, v, errdefs.ErrInvalidArgument)
		}
		c.Dedupe = &on
	}
	return c, nil
}

// DedupeOn says whether new snapshots are deduped (the default).
func (c Config) DedupeOn() bool { return c.Dedupe == nil || *c.Dedupe }

// Config is the engine-wide configuration in force.
func (e *Engine) Config() Config { return e.cfg }
