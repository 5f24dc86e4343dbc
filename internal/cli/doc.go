// Package cli is Strata's command line: one file per verb, each with its
// flags and output and nothing else. Every verb parses, calls one engine
// method and prints: tables on stdout, progress on stderr. The engine is
// opened lazily so that --help touches nothing.
package cli
