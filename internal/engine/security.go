package engine

import "github.com/strata-project/strata/internal/runtime"

// Security are a container's hardening options (run and create's
// --privileged, --cap-add, --cap-drop, --device, --group-add, --tmpfs,
// --sysctl, --security-opt); see runtime.Security.
type Security = runtime.Security

// ParseSysctl splits a --sysctl KEY=VALUE.
func ParseSysctl(v string) (key, value string, err error) { return runtime.ParseSysctl(v) }
