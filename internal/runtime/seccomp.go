package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-project/strata/internal/errdefs"
)

// The seccomp profiles come from github.com/moby/profiles/seccomp, the
// module docker itself builds its default profile from: docker's profile
// as data, and the code that turns docker's JSON format (with its
// per-capability, per-architecture and per-kernel rules) into the runtime
// spec's filter for a given spec. Keeping our own list would drift from
// docker's with every kernel.
//
// Docker's profile is an allow list: a call it does not name fails with
// EPERM, clone3 with ENOSYS (so libcs fall back to clone, whose flags a
// filter can read), personality only with the personas docker allows,
// and the calls gated on a capability (mount for CAP_SYS_ADMIN, ptrace
// for CAP_SYS_PTRACE…) are allowed when the spec's bounding set holds it.
// Calls newer than the runc's libseccomp get ENOSYS from runc's own stub,
// so a libc may fall back as on an older kernel.

// defaultSeccomp is docker's default seccomp profile for spec s, whose
// Process.Capabilities must be set: rules gated on a capability follow
// its bounding set.
func defaultSeccomp(s *specs.Spec) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("default seccomp profile: %w", err)
	}
	return p, nil
}

// loadSeccomp turns a profile in docker's JSON format into the filter
// for spec s.
func loadSeccomp(profile string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	p, err := seccomp.LoadProfile(profile, s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// checkSeccompProfile reports whether body is a profile in docker's JSON
// format, and returns it compacted (docker keeps a profile in the
// container's SecurityOpt as seccomp=<compact JSON>, so the container
// does not depend on the file afterwards). name is the file, for the
// message.
func checkSeccompProfile(name string, body []byte) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return "", fmt.Errorf("seccomp profile %s: not JSON (want docker's seccomp profile format, as in github.com/moby/profiles seccomp/default.json): %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	if _, err := seccomp.LoadProfile(buf.String(), s); err != nil {
		return "", fmt.Errorf("seccomp profile %s: %v (want docker's seccomp profile format): %w", name, err, errdefs.ErrInvalidArgument)
	}
	return buf.String(), nil
}
