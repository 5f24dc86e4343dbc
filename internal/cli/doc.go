// Package cli is Strata's command line: one file per verb, each with its
// flags and output and nothing else. Every verb parses, calls the engine
// and prints: tables on stdout, progress on stderr. The engine is opened
// lazily so that --help touches nothing.
//
// The CLI imports only the engine, errdefs, progress and api, the Engine
// API server that "strata system service" starts (a test in
// internal/depcheck holds it, and the API server, to that): containers, images and credentials
// are all reached through engine methods and functions,
// so that another front end (the Engine API server) calling the same
// methods sees the same containers and images. A few verbs are more than
// one call (cp picks a direction, run proxies signals while attached),
// but what they call is the engine's. The hidden verbs a container's
// helper processes run as (container-monitor, container-standby,
// init-reaper) hand over to the engine's entry points at once. The one
// exception is the registry verbs (registry*.go): they serve and maintain
// a registry's own store, which no engine opens, and call the registry
// package directly.
package cli
