// Package transfer moves images into and out of the store: from and to a
// registry (Pull, Push), from and to an image archive (Load, Save), from
// a root filesystem tarball (Import), and from a layer tar on a parent
// image (Commit: a container's changes, which the engine streams from the
// container store).
//
// It owns the sequences, not the parts. remote talks HTTP to registries,
// imagearchive reads and writes the archive formats, the layer pipeline
// (layer.Pipeline.Apply) fetches or reads, verifies, unpacks and commits
// every layer a pull, load or import brings in, and images names what
// arrives. What is left is here: which manifest a pull picks from an index
// and what it names; which form of a layer a push sends, skips, mounts
// from another repository or rebuilds from its snapshot once the blob
// cache evicted it (and the manifest it then pushes); which layers a save
// rebuilds; and a load's all-or-nothing undo.
//
// It is its own package, rather than a part of remote or imagearchive,
// because those know nothing of the store, and rather than a part of the
// engine, because the engine is wiring: it hands a Store its content
// store, database, image records and layer pipeline, with its gc lock and
// event journal as hooks, and its registry client with upload sessions
// kept under the root.
package transfer
