// Package build runs Dockerfiles: it parses them with BuildKit's parser
// (its AST only; the instructions are interpreted here), builds the stages
// the target needs, independent ones in parallel, and returns the image
// config and layers for the engine to store and name.
//
// Each step that can change files runs on a new snapshot over the stage's
// top layer: COPY and ADD write into it directly, RUN runs the command in a
// runc container whose rootfs is the snapshot, WORKDIR creates its
// directory. The snapshot's diff (the overlay upper dir, or a tree diff on
// the native snapshotter) becomes the step's layer, and the snapshot is
// committed under the layer's chain ID, so the next step and later
// containers mount it without unpacking. A step that changed nothing still
// makes a layer (an empty tar), as BuildKit's do; every config-only
// instruction is a history row with empty_layer.
//
// Layers are not compressed while building (unless Options.StoreBlobs):
// the diff is tarred once to hash it (the diffID) and to record a
// tar-split index, which is all the content store gets. The manifest names
// each such layer's uncompressed tar (digest = diffID); push rebuilds it
// from the snapshot and the index and compresses it, save rebuilds it.
// Compressing 100 MB of incompressible context on every edit cost more
// than the rest of the step, and docker build does not do it either.
//
// A COPY from the context that runs again because some of its files
// changed hard-links the unchanged ones from the layer it made last time
// (on the overlay snapshotter, whose committed layers nothing writes to);
// see reuse.go for why that is safe and gives the same bytes.
//
// Durability: a step's overlay is mounted "volatile" (mounted once, then
// committed or removed), so its unmount does not sync the filesystem; the
// build syncs once at its end, failed or not, and only then writes the
// layer, cache and input records of its steps in one commit. A crash before
// that leaves committed snapshots nothing refers to, which gc removes.
//
// RUN --mount (runmount*.go) adds runtime-spec mounts to the RUN's
// container: binds of the context, a stage or an image (read-only, or a
// throwaway copy when rw), persistent cache dirs under
// Options.CacheMountDir (flocked while a RUN uses them; each use is
// recorded with the build's final commit as a cache.Mount, which `builder
// prune` orders by), tmpfs, --secret files from a private temp dir (or
// variables of the RUN's environment, with env=), and --ssh agents: a
// socket per mount in that temp dir, served by the build for the RUN's
// lifetime, relaying list and sign requests to the host's agent or to a
// keyring of key files (runmount_ssh.go). None of them is in the layer:
// mount points the rootfs lacked are made for the run and removed after
// it, with their parents' mtimes and any directory overlay copied up to
// hold them. A secret's value, and an agent's socket or keys, are in no key.
//
// COPY --link and ADD --link (link.go) copy onto an empty tree instead:
// the layer depends on the sources alone, its cache key leaves out the
// parent, and it is stacked on whatever the stage has below it, so an
// edited earlier step or a new base image reuses it (same diffID).
//
// The instructions that change only the config (ENV, LABEL, USER, EXPOSE,
// VOLUME, STOPSIGNAL, SHELL, CMD, ENTRYPOINT, HEALTHCHECK, ONBUILD, and
// WORKDIR's config half) have one interpreter, ApplyConfig (config.go):
// the builder's dispatch calls it for a step, and ApplyChanges
// (changes.go) for the engine's --change of import and commit, each line
// parsed by BuildKit's parser as a Dockerfile's, refused with docker's
// words when --change does not take it ("run is not a valid change
// command").
//
// The step cache (package cache) maps a key made of the parent key, the
// step's text, the build args it sees and its sources' content hashes to
// the layer it made. The key chain also takes each layer's diffID, so a
// step rerun with a different result invalidates every step after it.
//
// Progress (progress.go) is BuildKit's plain lines to Options.Progress
// and, for the terminal display, the same steps as progress.StepEvents to
// Options.Display: each step starts once and ends once, failed, or
// canceled when it stopped because another stage failed or the build was
// interrupted; a stage that fails without ending its step itself ends it
// on its way out. Drawing them is the CLI's (progress.StepDisplay).
//
// The images are BuildKit's (TestSameAsDocker builds each of its
// Dockerfiles with docker too and compares files, config, history rows and
// layer counts). A RUN runs as in BuildKit's sandbox: hostname
// buildkitsandbox, BuildKit's /etc/hosts and the host's resolv.conf as
// read-only binds that are in no layer, no HOSTNAME variable. Where docker
// 20.10's built-in Dockerfile frontend and the current one (which docker
// runs for a Dockerfile with a "# syntax=" line, Dockerfile.Syntax) write
// different history texts (EXPOSE, HEALTHCHECK, COPY's flags, an ARG
// declared twice in a RUN's "|N K=V" list), the builder writes the one
// docker would use for that Dockerfile. Differences left on purpose: an
// ARG row never shows a --build-arg value (the current frontend shows it,
// and it may be a secret); a RUN that changed nothing makes an empty
// layer, where BuildKit 0.8's holds the directories its mount points were
// made in; history rows carry real creation times and cache misses say
// why.
//
// What it leaves to others: naming images and writing manifests (engine,
// with images.Store.Write), pulling base images (Backend.Pull, which the
// engine gives: a FROM, COPY --from or RUN --mount from= image the store
// lacks is pulled once per build, baseimage.go; without it only the
// store's images are used), and gc
// (cache records are roots through cache.Store.Roots, which the engine
// registers). A step's layer is made and committed by the layer pipeline
// (layer.Pipeline.CommitActive); the build writes the records in one
// commit after one syncfs (step.go's flush).
package build
