package network

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-project/strata/internal/testutil"
)

// processNetNS is the network namespace the process started in, read while
// the package initialises, on the main goroutine, which Go runs on the
// main thread until main starts.
var processNetNS, _ = os.Readlink("/proc/thread-self/ns/net")

// mainThreadNetNS is the network namespace the process's main thread is in
// now (its task ID is the process ID).
func mainThreadNetNS() string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", os.Getpid()))
	return l
}

// newNS and inNS leave no thread in the namespaces they enter, the main
// thread included: Go parks (never ends) a main thread left locked, and
// one parked in a sandbox's namespace kept it, and its veth, alive for the
// life of the process (TestHundredSandboxesLeakNothing saw one link left).
// The goroutines of the first few calls land on the main thread often.
func TestNamespaceThreadsPutBack(t *testing.T) {
	testutil.RequiresRoot(t)
	if processNetNS == "" {
		t.Fatal("could not read the process's network namespace at init")
	}
	dir := t.TempDir()
	for i := range 200 {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := newNS(p); err != nil {
			t.Fatal(err)
		}
		if err := inNS(p, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		removeNS(p)
		if got := mainThreadNetNS(); got != processNetNS {
			t.Fatalf("after %d namespaces the main thread is in %s, not the process's %s", i+1, got, processNetNS)
		}
	}
}
