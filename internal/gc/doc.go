// Package gc sweeps what nothing references: committed blobs and committed
// snapshots. It is handed its roots (the sets of blob digests and snapshot
// names to keep) rather than importing the packages that own images,
// containers or the build cache: marking is the engine's, which registers
// every source of roots it owns when it opens a store (engine.Open), so a
// collection from any front end keeps the same things. Active snapshots and
// the parents of anything kept always stay.
//
// The leftovers of dead processes (half-written ingests, half-unpacked
// snapshots, stale push sessions) are the engine's to clean, not this
// package's. Callers hold the store's gc lock exclusively while they mark
// and sweep, so nothing being written can be taken for garbage.
package gc
