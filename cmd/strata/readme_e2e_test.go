package main

import (
	"os/exec"
	"testing"
)

// TestReadme runs the README's quick start and tour as written, through
// scripts/readme-test.sh with the binary built for these tests (the issue
// found the quick-start image without httpd or /etc, and the tour pushing
// a name it never tagged).
func TestReadme(t *testing.T) {
	containerRoot(t) // root, runc and busybox, or skip
	for _, tool := range []string{"curl", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed", tool)
		}
	}
	out, err := exec.Command("../../scripts/readme-test.sh", strataBin).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's quick start and tour failed: %v\n%s", err, out)
	}
}
