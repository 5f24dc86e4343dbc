// Package e2e holds end-to-end tests of the strata command: TestMain builds
// the binary once into a temp dir, and each test runs it as a user would,
// with its own store ($STRATA_ROOT) and docker config ($DOCKER_CONFIG),
// against real registries on loopback (strata registry serve, and Debian's
// distribution 2.8 /usr/bin/docker-registry), checking what it prints, its
// exit code and what the store holds afterwards.
//
// The tests need root (overlay mounts, runc) and skip saying so otherwise;
// a test that needs a missing binary (busybox, docker-registry, docker)
// skips naming the Debian package. The docker interop test runs against the
// dockerd named by STRATA_TEST_DOCKER_HOST, which scripts/test.sh starts.
// TestPushPullReplicas also needs versitygw and PostgreSQL (the registry's
// S3 and database back ends): without them it fails in CI (CI=true) and
// skips elsewhere; TestMain stops the package's PostgreSQL cluster.
//
// There is no non-test code here.
package e2e
