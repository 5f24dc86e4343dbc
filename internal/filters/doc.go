// Package filters is docker's --filter KEY=VALUE values (Filters: the one
// reading of the filters that images, volume ls and the prunes take) and
// docker's timestamps (ParseTime: logs and events --since and --until, the
// until= filter), as moby keeps them beside its API types.
//
// It is its own package because images, volumes, containers and the build
// cache all filter by the same rules and none of them owns those rules; it
// imports nothing of Strata but errdefs, so each of them can.
package filters
