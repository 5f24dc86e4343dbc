package build

import "testing"

// DisableReuse makes COPY write every file through the overlay, as it did
// before reuse.go, until the test ends.
func DisableReuse(t testing.TB) {
	reuseEnabled.Store(false)
	t.Cleanup(func() { reuseEnabled.Store(true) })
}

// EnableReuse undoes DisableReuse before the test ends.
func EnableReuse() { reuseEnabled.Store(true) }
