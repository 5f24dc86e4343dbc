package runtime

import (
	"testing"
	"time"
)

func TestRestarterBackoff(t *testing.T) {
	always := RestartPolicy{Name: RestartAlways}
	var r restarter
	var got []time.Duration
	for range 12 {
		d, ok := r.next(always, 1, false, time.Second)
		if !ok {
			t.Fatal("always did not restart")
		}
		got = append(got, d)
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays = %v, want %v ms (doubling from 100 ms, at most a minute)", got, want)
		}
	}
	if d, _ := r.next(always, 1, false, 10*time.Second); d != restartFirstDelay || r.count != 13 {
		t.Errorf("after a 10 s run: delay %v count %d, want the series again from 100ms and the count kept", d, r.count)
	}
	if _, ok := r.next(always, 0, true, time.Second); ok {
		t.Error("always restarted a container its user stopped")
	}
}

func TestRestarterPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy string
		codes  []int
		want   int // restarts before the first no
	}{
		{"no", []int{1}, 0},
		{"always", []int{0, 0, 1}, 3},
		{"unless-stopped", []int{0, 2}, 2},
		{"on-failure", []int{1, 1, 1, 0}, 3},
		{"on-failure:2", []int{1, 1, 1}, 2},
		{"on-failure:5", []int{1, 0}, 1},
	} {
		p, err := ParseRestartPolicy(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		var r restarter
		n := 0
		for _, code := range tc.codes {
			if _, ok := r.next(p, code, false, time.Second); !ok {
				break
			}
			n++
		}
		if n != tc.want || r.count != n {
			t.Errorf("%s over exits %v: %d restarts (count %d), want %d", tc.policy, tc.codes, n, r.count, tc.want)
		}
	}
}

func TestParseRestartPolicy(t *testing.T) {
	for _, s := range []string{"no", "always", "unless-stopped", "on-failure", "on-failure:3"} {
		p, err := ParseRestartPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseRestartPolicy(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"sometimes", "on-failure:x", "always:1", "on-failure:-1", "", "no:0:1"} {
		if s == "" {
			continue // the zero value is "no"
		}
		if _, err := ParseRestartPolicy(s); err == nil {
			t.Errorf("ParseRestartPolicy(%q) accepted", s)
		}
	}
}

// FuzzParseRestartPolicy: what parses prints back as a policy that parses
// to the same thing.
func FuzzParseRestartPolicy(f *testing.F) {
	for _, s := range []string{"no", "always", "unless-stopped", "on-failure", "on-failure:3", "on-failure:x", "on-failure:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRestartPolicy(s)
		if err != nil {
			return
		}
		q, err := ParseRestartPolicy(p.String())
		if err != nil || q.IsNone() != p.IsNone() || q.MaximumRetryCount != p.MaximumRetryCount || !p.IsNone() && q.Name != p.Name {
			t.Fatalf("%q → %v → %q → %v, %v", s, p, p.String(), q, err)
		}
	})
}
