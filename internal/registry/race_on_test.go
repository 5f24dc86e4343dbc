//go:build race

package registry

// raceDetector is set under -race; scripts/test.sh runs this package twice,
// with and without it.
const raceDetector = true
