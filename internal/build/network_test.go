package build

import (
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/network"
)

// A RUN's network: the build's --network unless the step names its own;
// "default" in a step means the build's.
func TestRunNetwork(t *testing.T) {
	for _, tc := range []struct{ build, step, want string }{
		{"", "", "default"}, {"default", "", "default"}, {"none", "", "none"}, {"host", "", "host"},
		{"none", "default", "none"}, {"", "none", "none"}, {"none", "host", "host"},
	} {
		if got, err := runNetwork(tc.build, tc.step); err != nil || got != tc.want {
			t.Errorf("runNetwork(%q, %q) = %q, %v; want %q", tc.build, tc.step, got, err, tc.want)
		}
	}
	if _, err := runNetwork("bridge0", ""); err == nil || !strings.Contains(err.Error(), `"bridge0"`) || !strings.Contains(err.Error(), "default, none or host") {
		t.Errorf("runNetwork of an unknown mode: %v, want the value and what is accepted", err)
	}
}

// A failed RUN whose output looks like a network error says which
// network it had (and with none, how to get one); other failures say
// nothing of the network.
func TestNetworkHint(t *testing.T) {
	apt := []string{"Err:1 http://deb.debian.org/debian bookworm InRelease", "  Temporary failure resolving 'deb.debian.org'"}
	curl := []string{"curl: (7) Failed to connect to 10.0.0.1 port 80: Network is unreachable"}
	for _, tc := range []struct {
		mode string
		tail []string
		want []string
	}{
		{"none", apt, []string{"network none", "--network default", "RUN --network=default"}},
		{"default", curl, []string{"network default"}},
		{"host", apt, []string{"network host"}},
	} {
		got := networkHint(tc.mode, tc.tail)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("networkHint(%s, %q) = %q, want it to say %q", tc.mode, tc.tail, got, w)
			}
		}
	}
	if got := networkHint("none", []string{"make: *** [all] Error 2"}); got != "" {
		t.Errorf("networkHint of a failure that is not the network's: %q", got)
	}
}

// recordingNetworks records the sandboxes attached and detached.
type recordingNetworks struct{ attached, detached []string }

func (r *recordingNetworks) Attach(o network.AttachOptions) (*network.Sandbox, error) {
	r.attached = append(r.attached, o.ID)
	return &network.Sandbox{ID: o.ID}, nil
}

func (r *recordingNetworks) Detach(id string) error {
	r.detached = append(r.detached, id)
	return nil
}

// The keeper attaches one sandbox of its own at the first RUN on the
// default network, owned by this process, and detaches it at the end;
// a build with no such RUN attaches nothing.
func TestNetKeeper(t *testing.T) {
	n := &recordingNetworks{}
	var k netKeeper
	k.hold(n)
	k.hold(n)
	if len(n.attached) != 1 || !strings.HasPrefix(n.attached[0], "strata-build-keep-") {
		t.Fatalf("attached %v, want one keeper sandbox", n.attached)
	}
	k.release(n)
	if len(n.detached) != 1 || n.detached[0] != n.attached[0] {
		t.Errorf("detached %v, want the keeper %s", n.detached, n.attached[0])
	}
	n = &recordingNetworks{}
	var idle netKeeper
	idle.release(n)
	idle.hold(n)
	if len(n.attached)+len(n.detached) != 0 {
		t.Errorf("a build with no RUN on the default network: attached %v, detached %v", n.attached, n.detached)
	}
}
