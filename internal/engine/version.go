package engine

import (
	goruntime "runtime"
	"runtime/debug"

	"github.com/strata-project/strata/internal/host"
)

// The Docker Engine API versions Strata's API server speaks; strata version
// reports them too.
const (
	APIVersion    = "1.50"
	MinAPIVersion = "1.41"
)

// version is Strata's version: set at link time (-ldflags "-X
// github.com/strata-project/strata/internal/engine.version=v1.2.3"), else
// the commit the binary was built from, else "dev".
var version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}()

// VersionInfo is what strata version and the API's /version report: one
// source for the CLI and the server, so they never disagree. Strata has
// no daemon, so the client and the engine are the same binary.
type VersionInfo struct {
	Version       string
	APIVersion    string
	MinAPIVersion string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string
}

// Version reports this binary's versions and platform.
func Version() VersionInfo {
	return VersionInfo{
		Version:       version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		GoVersion:     goruntime.Version(),
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		KernelVersion: KernelVersion(),
	}
}

// KernelVersion is the running kernel's release (uname -r).
func KernelVersion() string { return host.Kernel() }
