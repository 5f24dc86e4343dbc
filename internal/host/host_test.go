package host

import "testing"

func TestFacts(t *testing.T) {
	if Kernel() == "" {
		t.Error("no kernel release")
	}
	if OSName() == "" {
		t.Error("no OS name")
	}
	if MemTotal() <= 0 {
		t.Errorf("MemTotal = %d", MemTotal())
	}
}
