package runtime

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzParseLogConfig: an accepted --log-driver/--log-opt set names a known
// driver, rotates by a positive size into at least one file, and reads
// back the same from its own options.
func FuzzParseLogConfig(f *testing.F) {
	f.Add("json-file", "max-size=1k\nmax-file=3")
	f.Add("", "max-size=10m")
	f.Add("none", "")
	f.Add("none", "max-size=1k")
	f.Add("json-file", "max-file=0\ncompress=false")
	f.Add("syslog", "x=y")
	f.Fuzz(func(t *testing.T, driver, opts string) {
		var list []string
		if opts != "" {
			list = strings.Split(opts, "\n")
		}
		c, err := ParseLogConfig(driver, list)
		if err != nil {
			return
		}
		if c.Type != LogDriverJSONFile && c.Type != LogDriverNone {
			t.Fatalf("driver %q accepted as %q", driver, c.Type)
		}
		size, files := c.rotation()
		if _, ok := c.Config["max-size"]; ok != (size > 0) || files < 1 {
			t.Fatalf("%v: rotation %d bytes, %d files", c, size, files)
		}
		var again []string
		for _, k := range slices.Sorted(maps.Keys(c.Config)) {
			again = append(again, k+"="+c.Config[k])
		}
		c2, err := ParseLogConfig(c.Type, again)
		if err != nil || !maps.Equal(c.Config, c2.Config) || c.Type != c2.Type {
			t.Fatalf("%v reads back as %v, %v", c, c2, err)
		}
	})
}
