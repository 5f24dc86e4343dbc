package runtime

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A HostConfig's security options make the Security that inspect shows
// back as the same HostConfig.
func TestSecurityHostConfigRoundTrip(t *testing.T) {
	s := Security{
		Privileged: true, CapAdd: []string{"net_admin"}, CapDrop: []string{"ALL"},
		Devices: []string{"/dev/fuse:/dev/fuse:rwm", "/dev/null:/dev/x:r"}, GroupAdd: []string{"50"},
		Tmpfs:       []string{"/a", "/run:size=1m"},
		Sysctls:     map[string]string{"net.ipv4.ip_forward": "1"},
		SecurityOpt: []string{"no-new-privileges"},
	}
	h := s.HostConfig(false)
	if diff := cmp.Diff(s, SecurityFromHostConfig(h)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Docker's API may leave the container path and permissions out.
	h.Devices[0].PathInContainer, h.Devices[0].CgroupPermissions = "", ""
	if got := SecurityFromHostConfig(h).Devices[0]; got != "/dev/fuse:/dev/fuse:rwm" {
		t.Errorf("device with defaults: %q", got)
	}
}
