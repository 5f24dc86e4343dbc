package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OverlaySupported reports, by mounting one, whether an overlay filesystem
// with dir's filesystem as its layers works here: the kernel module may be
// missing, and some filesystems cannot be an upper layer. It returns nil if
// so and an error saying why not otherwise.
func OverlaySupported(dir string) error {
	tmp, err := os.MkdirTemp(dir, "overlay-check-")
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
