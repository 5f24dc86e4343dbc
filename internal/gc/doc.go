// Package gc sweeps what nothing references: committed blobs, committed
// snapshots and layer records. Mark walks the image records (manifests,
// indexes, configs, layers; a loader handed in reads an image's diffIDs)
// and adds the roots of the other owners (containers, the build cache),
// handed in as Sources rather than imported: the engine registers every
// source it owns when it opens a store (engine.Open), so a collection from
// any front end keeps the same things. Sweep removes what is not marked;
// ForgetLayers the layer records. Active snapshots and the parents of
// anything kept always stay.
//
// The leftovers of dead processes (half-written ingests, half-unpacked
// snapshots, stale push sessions) are the engine's to clean, not this
// package's. Callers hold the store's gc lock exclusively while they mark
// and sweep, so nothing being written can be taken for garbage.
package gc
