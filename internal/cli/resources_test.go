package cli

import (
	"math"
	"strconv"
	"testing"
)

// FuzzParseNanoCPUs: an accepted --cpus is the decimal number written, in
// billionths.
func FuzzParseNanoCPUs(f *testing.F) {
	for _, s := range []string{"0.5", "2", "-1", "1e-10", "0.000000001", "1/2", "abc", "1.5e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseNanoCPUs(s)
		if err != nil {
			return
		}
		v, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || math.Abs(v) > 1e6 {
			return // a fraction (1/2), as docker's parser also takes, or huge
		}
		if math.Abs(float64(n)-v*1e9) > 1 {
			t.Fatalf("%q: %d billionths, want %v", s, n, v*1e9)
		}
	})
}
