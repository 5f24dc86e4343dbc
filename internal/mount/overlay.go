package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-project/strata/internal/proc"
)

// OverlaySupported reports, by mounting one, whether an overlay filesystem
// with dir's filesystem as its layers works here: the kernel module may be
// missing, and some filesystems cannot be an upper layer. It returns nil if
// so and an error saying why not otherwise.
func OverlaySupported(dir string) error {
	// The pid in the name tells CleanOverlayChecks whose probe it is.
	tmp, err := os.MkdirTemp(dir, fmt.Sprintf("overlay-check-%d-", os.Getpid()))
	if err != nil {
		return fmt.Errorf("check overlay support on %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	names := []string{"lower1", "lower2", "upper", "work", "merged"}
	for _, n := range names {
		if err := os.Mkdir(filepath.Join(tmp, n), 0o755); err != nil {
			return fmt.Errorf("check overlay support on %s: %w", dir, err)
		}
	}
	p := func(n string) string { return filepath.Join(tmp, n) }
	m := Mount{
		Type:   "overlay",
		Source: "overlay",
		Options: []string{
			"lowerdir=" + strings.Join([]string{p("lower2"), p("lower1")}, ":"),
			"upperdir=" + p("upper"),
			"workdir=" + p("work"),
		},
	}
	if err := m.Mount(p("merged")); err != nil {
		return fmt.Errorf("check overlay support on %s: %w", dir, err)
	}
	if err := UnmountAll(p("merged"), 0); err != nil {
		return fmt.Errorf("check overlay support on %s: %w", dir, err)
	}
	return nil
}

// CleanOverlayChecks unmounts and removes what an OverlaySupported probe in
// dir left behind when its process was killed mid-way; a probe whose
// process still runs is left alone. Callers run it at start-up; it costs
// one directory read when there is nothing to clean.
func CleanOverlayChecks(dir string) {
	leftovers, _ := filepath.Glob(filepath.Join(dir, "overlay-check-*"))
	for _, tmp := range leftovers {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(tmp), "overlay-check-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		if proc.Alive(pid) {
			continue // its prober is alive
		}
		_ = UnmountAll(filepath.Join(tmp, "merged"), 0)
		_ = os.RemoveAll(tmp)
	}
}
