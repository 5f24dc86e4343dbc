package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	units "github.com/docker/go-units"

	"github.com/strata-project/strata/internal/testutil"
)

// threeDigits is a size as docker's CLI writes one: at most three
// significant digits and a decimal unit.
var threeDigits = regexp.MustCompile(`^(\d{1,3}|\d\.\d{1,2}|\d\d\.\d)(B|kB|MB|GB|TB)$`)

// TestImageSizeOneFigure: images, system df -v, inspect and history give
// an image one size (they disagreed: images counted tar bytes, df the
// disk), written with docker's three significant digits.
func TestImageSizeOneFigure(t *testing.T) {
	root := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	// Many small files: their tar bytes and their disk blocks differ by
	// far more than the last digit shown.
	dir := filepath.Join(rootfs, "small")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustStrata(t, root, "import", rootfs, "sized")
	images := strings.TrimSpace(mustStrata(t, root, "images", "--format", "{{.Size}}", "sized"))
	var df string
	for _, line := range strings.Split(mustStrata(t, root, "system", "df", "-v"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "sized" {
			df = f[len(f)-4] // SIZE, SHARED SIZE, UNIQUE SIZE, CONTAINERS
		}
	}
	hist := strings.TrimSpace(mustStrata(t, root, "history", "--format", "{{.Size}}", "sized"))
	if images != df || images != hist {
		t.Errorf("images says %s, system df -v %s, history %s: want one figure", images, df, hist)
	}
	if !threeDigits.MatchString(images) {
		t.Errorf("size %q: want docker's three significant digits", images)
	}
	raw := strings.TrimSpace(mustStrata(t, root, "inspect", "--format", "{{.Size}}", "sized"))
	var n int64
	fmt.Sscan(raw, &n)
	if got := units.HumanSizeWithPrecision(float64(n), 3); got != images {
		t.Errorf("inspect's Size %s bytes is %s, images says %s", raw, got, images)
	}
}
