// Package config reads a Strata store's engine-wide settings: the
// config.json in its root, whose keys are those of docker's daemon.json for
// the same settings, the STRATA_* environment variables that override it,
// and the byte sizes both take ("512m", as docker writes sizes, through
// docker/go-units).
//
// It is its own package because several layers read the result (the
// engine's Open, the file pool switch, the blob cache budget, the
// containers' default no-new-privileges) and none of them owns the file;
// it imports nothing of Strata but errdefs.
package config
