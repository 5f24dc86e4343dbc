// Package backendtest is the contract every registry back end passes: one
// suite, run on local disk + bbolt and on S3 + PostgreSQL alike (as
// distribution's storage/driver/testsuites and Strata's snapshottest).
package backendtest
