// Package testcontainers runs testcontainers-go against Strata's Engine API
// (`strata system service`). It is a module of its own so that the main
// module does not carry testcontainers-go and its dependencies; scripts/
// test.sh runs it after the main module's tests.
//
// The test builds strata from this repository, imports a busybox image
// into a fresh store, serves the API on a socket of its own and points
// testcontainers at it (DOCKER_HOST). Ryuk, the reaper container
// testcontainers starts by default, is disabled
// (TESTCONTAINERS_RYUK_DISABLED=true): the test terminates what it makes.
package testcontainers
