package engine

import "github.com/strata-project/strata/internal/runtime"

// Security are a container's hardening options (run and create's
// --privileged, --cap-add, --cap-drop, --device, --group-add, --tmpfs,
// --sysctl, --security-opt); see runtime.Security.
type Security = runtime.Security

// ParseSysctl splits a --sysctl KEY=VALUE.
func ParseSysctl(v string) (key, value string, err error) { return runtime.ParseSysctl(v) }

// SecurityHostConfig is the security part of docker's HostConfig, as
// inspect shows it and the Engine API receives it.
type SecurityHostConfig = runtime.SecurityHostConfig

// DeviceMapping is one device of a HostConfig.
type DeviceMapping = runtime.DeviceMapping

// SecurityFromHostConfig reads a docker HostConfig's security options as
// create's flags would give them (docker's defaults for a device's path
// in the container and permissions; tmpfs in path order).
func SecurityFromHostConfig(h SecurityHostConfig) Security { return runtime.SecurityFromHostConfig(h) }
