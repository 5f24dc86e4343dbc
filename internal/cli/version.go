package cli

import "runtime/debug"

// version is Strata's version: set at link time (-ldflags "-X
// github.com/strata-project/strata/internal/cli.version=v1.2.3"), else the
// commit the binary was built from, else "dev".
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
