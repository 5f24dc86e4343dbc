package engine

import "github.com/strata-project/strata/internal/config"

// Config is the engine-wide configuration (package config reads it).
type Config = config.Config

// Config is the engine-wide configuration in force.
func (e *Engine) Config() Config { return e.cfg }

// BlobCacheBudget is the blob cache's budget in force, in bytes.
func (e *Engine) BlobCacheBudget() int64 { return e.cfg.BlobCacheBudget() }
